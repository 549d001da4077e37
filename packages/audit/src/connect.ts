import pg from 'pg';
import { RowguardError } from '@rowguard/kernel';

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
 *
 * @param error - what connecting or querying threw
 * @param url - the URL tried, for the message (never its password)
 * @param options - `duringConnect`: the error came while connecting
 * @example
 * ```ts
 * try {
 *   await client.query('select 1');
 * } catch (error) {
 *   throw unreachableError(error, url) ?? error;
 * }
 * ```
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

/**
 * A connected client, or DATABASE_UNREACHABLE in one line. `applicationName` is what
 * pg_stat_activity shows for it.
 *
 * @example
 * ```ts
 * const client = await connectClient(process.env.DATABASE_URL!, 'nightly audit');
 * try {
 *   report = await runAudit(client);
 * } finally {
 *   await client.end();
 * }
 * ```
 */
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

