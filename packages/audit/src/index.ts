/**
 * @rowguard/audit: the proof tools as a library. `runAudit` lints a database's row-level
 * security from its catalog; `runProbe` connects as the application role and tries to read
 * and write across tenants. Both return typed reports; the formats render them.
 */
export { auditScopeProblem, fixSql, runAudit, type AuditOptions, type AuditReport } from './audit/run-audit.js';
export type { Finding, Severity } from './audit/lint.js';
export { formatHtml, formatJson, formatSarif, formatText } from './audit/report-formats.js';
export { tenantSettingOf } from './audit/policy-expression.js';
export { runProbe, type ProbeOptions, type ProbeReport, type ProbeResult } from './probe/run-probe.js';
