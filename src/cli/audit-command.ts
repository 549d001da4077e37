import pg from 'pg';
import { RowguardError } from '../errors.js';
import { formatHtml, formatJson, formatSarif, formatText } from '../audit/report-formats.js';
import { fixSql, runAudit } from '../audit/run-audit.js';

export interface AuditCommandOptions {
  url: string | undefined;
  appRole?: string;
  tenantColumn?: string;
  schemas?: string[];
  format?: string;
  failOn?: string;
  fixSql?: boolean;
}

const FORMATS = ['text', 'json', 'sarif', 'html'];

/**
 * rowguard audit: read-only catalog lints. Exit codes: 0 nothing at or above --fail-on,
 * 1 findings at or above it, 2 the audit could not run (bad arguments, no connection).
 */
export async function auditCommand(options: AuditCommandOptions): Promise<number> {
  const { url, format = 'text', failOn = 'error' } = options;
  try {
    if (!url) throw new RowguardError('CONFIG_INVALID', 'audit needs a database URL: rowguard audit postgres://…');
    if (!FORMATS.includes(format)) throw new RowguardError('CONFIG_INVALID', `--format must be one of ${FORMATS.join(', ')}`);
    if (failOn !== 'error' && failOn !== 'warn') throw new RowguardError('CONFIG_INVALID', '--fail-on must be error or warn');
    const client = new pg.Client({ connectionString: url, application_name: 'rowguard audit' });
    await client.connect();
    let report;
    try {
      // Belt and braces: the audit only reads, and the session says so.
      await client.query('set session characteristics as transaction read only');
      report = await runAudit(client, { appRole: options.appRole, tenantColumn: options.tenantColumn, schemas: options.schemas });
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
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof RowguardError ? ` [${error.code}]` : '';
    console.error(`rowguard: ${message.split('\n')[0]}${code}`);
    return 2;
  }
}
