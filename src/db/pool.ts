import pg from 'pg';

export interface PoolOptions {
  connectionString: string;
  max: number;
  applicationName: string;
  /** Idle connections that die (server restart, pg_terminate_backend) are reported here, not thrown. */
  onIdleError?: (error: Error) => void;
}

export function createPool({ connectionString, max, applicationName, onIdleError = () => {} }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', onIdleError);
  return pool;
}
