import pg from 'pg';

/** What `createPool` needs: where to connect, and a few node-postgres settings it passes on. */
export interface PoolOptions {
  /** A postgres:// URL; its user is the role every connection of the pool logs in as. */
  connectionString: string;
  /** Connections at most (default 10, node-postgres's own). */
  max?: number;
  /** Shown in pg_stat_activity (default `rowguard`). */
  applicationName?: string;
  /** Idle connections that die (server restart, pg_terminate_backend) are reported here, not thrown. */
  onIdleError?: (error: Error) => void;
}

const DATE_OID = 1082;
const INT8_OID = 20;

const dateAsText = (value: string) => value;
const int8AsNumber = (value: string) => (Number.isSafeInteger(Number(value)) ? Number(value) : value);

/**
 * The type parsers of `createPool`'s connections: dates stay 'YYYY-MM-DD' (a JS Date would
 * shift them by the local time zone); 64-bit integers (counts, amounts in minor units) become
 * numbers while they fit exactly; every other type as node-postgres parses it. A statement's
 * own `types` (QueryOptions) replace them: build those on these.
 *
 * @example
 * // numeric (oid 1700) as a number in this statement, everything else as the pool reads it
 * const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 1700 ? Number : rowTypes.getTypeParser(oid, format)) };
 * const { rows } = await tx.query('select sum(amount) as total from invoices', [], { types });
 */
export const rowTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === DATE_OID) return dateAsText;
    if (oid === INT8_OID) return int8AsNumber;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/**
 * A node-postgres pool as the kernel expects it: a listener for connections that fail idle or
 * checked out (node-postgres would otherwise end the process), dates kept as text, safe 64-bit
 * integers as numbers.
 *
 * @param options - the URL, the pool size and the application name
 * @example
 * const appPool = createPool({ connectionString: process.env.APP_URL!, max: 20, applicationName: 'api' });
 */
export function createPool({ connectionString, max = 10, applicationName = 'rowguard', onIdleError = () => {} }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    types: rowTypes,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', onIdleError);
  // The pool listens for errors only while a connection is idle. A checked-out one can fail
  // between statements too (pg_terminate_backend, a restart, the network): without a listener
  // node-postgres throws that at the top level and the process dies. The statement that next
  // uses the connection fails with it anyway, and the pool then discards the connection.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
