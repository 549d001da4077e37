import { RowguardError } from '@rowguard/kernel';
import { auditScopeProblem, connectClient, fixSql, formatHtml, formatJson, formatSarif, formatText, runAudit, unreachableError } from '@rowguard/audit';
import { wholeNumberFlag } from './commands.js';

export interface AuditCommandOptions {
  url: string | undefined;
  appRole?: string;
  tenantColumn?: string;
  schemas?: string[];
  format?: string;
  failOn?: string;
  fixSql?: boolean;
  /** --expect-tables: at least this many tenant tables, or the audit could not run (exit 2). */
  expectTables?: string;
  /** With no URL: the running embedded database's owner URL and the configured app role. */
  embedded?: () => Promise<{ url: string; appRole: string }>;
}

const FORMATS = ['text', 'json', 'sarif', 'html'];

/**
 * rowguard audit: read-only catalog lints. Exit codes: 0 nothing at or above --fail-on,
 * 1 findings at or above it, 2 the audit could not run (bad arguments, no connection, or
 * nothing to audit: a missing schema, no tenant table, fewer than --expect-tables).
 */
export async function auditCommand(options: AuditCommandOptions): Promise<number> {
  const { format = 'text', failOn = 'error' } = options;
  let { url, appRole } = options;
  try {
    if (!FORMATS.includes(format)) throw new RowguardError('CONFIG_INVALID', `--format must be one of ${FORMATS.join(', ')}`);
    if (failOn !== 'error' && failOn !== 'warn') throw new RowguardError('CONFIG_INVALID', '--fail-on must be error or warn');
    const expectTables = wholeNumberFlag('expect-tables', options.expectTables);
    if (!url && options.embedded) {
      const embedded = await options.embedded();
      url = embedded.url;
      appRole ??= embedded.appRole;
    }
    if (!url) throw new RowguardError('CONFIG_INVALID', 'audit needs a database URL: rowguard audit postgres://…');
    const client = await connectClient(url, 'rowguard audit');
    let report;
    try {
      // Belt and braces: the audit only reads, and the session says so.
      await client.query('set session characteristics as transaction read only');
      report = await runAudit(client, { appRole, tenantColumn: options.tenantColumn, schemas: options.schemas });
      // An audit of nothing is not a clean audit: say so before printing any report.
      const problem = await auditScopeProblem(client, report, { schemas: options.schemas, tenantColumn: options.tenantColumn, expectTables });
      if (problem) throw problem;
    } finally {
      await client.end();
    }
    if (options.fixSql) process.stdout.write(fixSql(report));
    else if (format === 'json') process.stdout.write(formatJson(report));
    else if (format === 'sarif') process.stdout.write(formatSarif(report));
    else if (format === 'html') process.stdout.write(formatHtml(report));
    else process.stdout.write(formatText(report, { color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR }));
    const failing = report.summary.error + (failOn === 'warn' ? report.summary.warn : 0);
    return failing > 0 ? 1 : 0;
  } catch (error) {
    const shown = unreachableError(error, url) ?? error;
    const message = shown instanceof Error ? shown.message : String(shown);
    const code = shown instanceof RowguardError ? ` [${shown.code}]` : '';
    console.error(`rowguard: ${message.split('\n')[0]}${code}`);
    return 2;
  }
}
