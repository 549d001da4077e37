import pg from 'pg';
import { RowguardError } from '@rowguard/kernel';
import { auditScopeProblem, fixSql, formatHtml, formatJson, formatSarif, formatText, runAudit } from '@rowguard/audit';
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

/** How a failed connection reads: the network's words, never the driver's. */
const NETWORK_REASONS: Record<string, string> = {
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host (name lookup failed)',
  EAI_NONAME: 'unknown host',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'the connection was closed',
};

/** host:port of a URL, without credentials; undefined when it is not a URL. */
function serverOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || 5432}`;
  } catch {
    return undefined;
  }
}

/**
 * A connection that failed, as one line with DATABASE_UNREACHABLE; undefined for any other error.
 * `duringConnect`: the error came from connecting, so anything that is not a server's answer
 * means whatever listens there does not speak PostgreSQL.
 */
export function unreachableError(error: unknown, url: string | undefined, { duringConnect = false } = {}): RowguardError | undefined {
  if (error instanceof RowguardError || !(error instanceof Error)) return undefined;
  const server = serverOf(url) ?? 'the configured address';
  const { code, severity } = error as { code?: string; severity?: string };
  const message = error.message.split('\n')[0]!;
  const wrap = (text: string) => new RowguardError('DATABASE_UNREACHABLE', text, { cause: error });
  if (code && NETWORK_REASONS[code]) return wrap(`could not reach PostgreSQL at ${server}: ${NETWORK_REASONS[code]}`);
  if (/^(timeout expired|Connection terminated due to connection timeout)/.test(message)) return wrap(`could not reach PostgreSQL at ${server}: timed out`);
  if (severity && code) {
    // The server answered: a refused login, a missing database, too many connections, shutting down.
    if (duringConnect || /^(08|28|3D|53|57P)/.test(code)) return wrap(`PostgreSQL at ${server} refused the connection: ${message}`);
    return undefined;
  }
  if (/^Connection terminated unexpectedly/.test(message)) {
    return wrap(duringConnect ? `${server} did not answer as PostgreSQL (it closed the connection)` : `the connection to ${server} closed unexpectedly (is PostgreSQL listening there?)`);
  }
  if (duringConnect || /^(Received unexpected|Unknown message code|The server does not support SSL)/.test(message)) {
    return wrap(`${server} did not answer as PostgreSQL (${message})`);
  }
  return undefined;
}

/** A connected client, or DATABASE_UNREACHABLE in one line. */
export async function connectClient(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: 15_000 });
  // A server that is not PostgreSQL may also fail the socket after connect() rejected.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw unreachableError(error, url, { duringConnect: true }) ?? error;
  }
  return client;
}

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
