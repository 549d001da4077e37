/**
 * @rowguard/audit: the proof tools as a library. `audit` lints a database's row-level
 * security from its catalog; `probe` connects as the application role and tries to read and
 * write across tenants. Both return typed reports; the formats render them. `runAudit` and
 * `runProbe` do the same on clients you already hold.
 *
 * @module @rowguard/audit
 */
export { audit, probe } from './by-url.js';
export { auditScopeProblem, fixSql, runAudit, type AuditOptions, type AuditReport } from './audit/run-audit.js';
export type { Finding, Severity } from './audit/lint.js';
export { formatHtml, formatJson, formatSarif, formatText } from './audit/report-formats.js';
export { tenantSettingOf } from './audit/policy-expression.js';
export { incompleteProbe, runProbe, type ProbeOptions, type ProbeReport, type ProbeResult } from './probe/run-probe.js';
export { connectClient, unreachableError } from './connect.js';
