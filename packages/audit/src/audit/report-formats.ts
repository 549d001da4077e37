import type { Finding, Severity } from './lint.js';
import { LINTS } from './lints/index.js';
import type { AuditReport } from './run-audit.js';

const COLORS: Record<Severity, string> = { error: '\x1b[31m', warn: '\x1b[33m', info: '\x1b[36m' };

/**
 * For people: grouped by severity, colored on a terminal, with a summary line.
 *
 * @param report - the audit report
 * @param options - `color`: ANSI colours, for a terminal
 * @example
 * ```ts
 * const report = await audit(process.env.DATABASE_URL!);
 * process.stdout.write(formatText(report, { color: process.stdout.isTTY }));
 * ```
 */
export function formatText(report: AuditReport, { color }: { color: boolean }): string {
  const paint = (severity: Severity, text: string) => (color ? `${COLORS[severity]}${text}\x1b[0m` : text);
  const lines = [`rowguard audit · PostgreSQL ${report.serverVersion} · schemas ${report.schemas.join(', ')} · app role ${report.appRole ?? '(none)'} · ${report.tenantTables} tenant tables`, ''];
  for (const severity of ['error', 'warn', 'info'] as const) {
    const group = report.findings.filter((f) => f.severity === severity);
    if (group.length === 0) continue;
    lines.push(paint(severity, `${severity.toUpperCase()} (${group.length})`));
    for (const f of group) {
      lines.push(`  ${paint(severity, f.id.padEnd(28))} ${f.object}`, `      ${f.message}`);
      if (f.fix) lines.push(...f.fix.split('\n').map((l) => `      fix: ${l}`));
    }
    lines.push('');
  }
  const { error, warn, info } = report.summary;
  lines.push(`${error} errors, ${warn} warnings, ${info} notes${error + warn === 0 ? ' — no holes found' : ''}`);
  return lines.join('\n') + '\n';
}

/**
 * For machines: { findings: [{ id, severity, object, message, fix }], summary, … }.
 *
 * @example
 * ```ts
 * await writeFile('audit.json', formatJson(await audit(process.env.DATABASE_URL!)));
 * ```
 */
export function formatJson(report: AuditReport): string {
  return JSON.stringify({ version: 1, ...report }, null, 2) + '\n';
}

/**
 * SARIF 2.1.0, for code-scanning interfaces: one rule per lint, one result per finding.
 *
 * @example
 * ```ts
 * // then upload rowguard.sarif to the repository's code scanning
 * await writeFile('rowguard.sarif', formatSarif(await audit(process.env.DATABASE_URL!)));
 * ```
 */
export function formatSarif(report: AuditReport): string {
  const level: Record<Severity, string> = { error: 'error', warn: 'warning', info: 'note' };
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'rowguard audit',
            rules: [...LINTS.map((l) => ({ id: l.id, shortDescription: { text: l.title }, defaultConfiguration: { level: level[l.severity] } })), { id: 'app-role-unknown', shortDescription: { text: 'No app role found' } }],
          },
        },
        results: report.findings.map((f: Finding) => ({
          ruleId: f.id,
          level: level[f.severity],
          message: { text: `${f.object}: ${f.message}${f.fix ? `\nFix:\n${f.fix}` : ''}` },
          locations: [{ logicalLocations: [{ fullyQualifiedName: f.object, kind: 'object' }] }],
        })),
      },
    ],
  };
  return JSON.stringify(sarif, null, 2) + '\n';
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * One self-contained HTML page (inline styles, no scripts or external assets).
 *
 * @example
 * ```ts
 * await writeFile('audit.html', formatHtml(await audit(process.env.DATABASE_URL!)));
 * ```
 */
export function formatHtml(report: AuditReport): string {
  const rows = report.findings
    .map(
      (f) => `<tr class="${f.severity}"><td>${f.severity}</td><td><code>${escape(f.id)}</code></td><td><code>${escape(f.object)}</code></td>
<td>${escape(f.message)}${f.fix ? `<pre>${escape(f.fix)}</pre>` : ''}</td></tr>`,
    )
    .join('\n');
  const { error, warn, info } = report.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rowguard audit</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#222}h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.5rem;vertical-align:top;text-align:left}pre{background:#f5f5f5;padding:.5rem;white-space:pre-wrap}
tr.error td:first-child{color:#b00020;font-weight:bold}tr.warn td:first-child{color:#a15c00;font-weight:bold}tr.info td:first-child{color:#00639b}
</style></head><body>
<h1>rowguard audit</h1>
<p>PostgreSQL ${escape(report.serverVersion)} · schemas ${escape(report.schemas.join(', '))} · app role ${escape(report.appRole ?? '(none)')} · ${report.tenantTables} tenant tables</p>
<p><strong>${error} errors, ${warn} warnings, ${info} notes</strong></p>
<table><thead><tr><th>severity</th><th>lint</th><th>object</th><th>why, and the fix</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>
`;
}
