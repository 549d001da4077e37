import pg from 'pg';
import { quoteIdent, quoteLiteral } from '../db/sql.js';
import { setupRoles } from './roles.js';
import { scramVerifier } from './scram.js';

export interface BootstrapOptions {
  /** A superuser connection to any database of the cluster. */
  superuserUrl: string;
  database: string;
  ownerRole: string;
  ownerPassword?: string;
  appRole: string;
  appPassword?: string;
  systemRole: string;
}

/**
 * From a superuser connection: an owner role (LOGIN, CREATEROLE, not superuser) owning the
 * database, then the app and system roles set up by that owner. Idempotent.
 */
export async function bootstrapDatabase(options: BootstrapOptions): Promise<{ ownerUrl: string; appUrl: string }> {
  const { superuserUrl, database, ownerRole, ownerPassword, appRole, appPassword, systemRole } = options;
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    const owner = quoteIdent(ownerRole);
    const password = ownerPassword === undefined ? '' : ` password ${quoteLiteral(scramVerifier(ownerPassword))}`;
    const exists = await admin.query('select 1 from pg_roles where rolname = $1', [ownerRole]);
    await admin.query(`${exists.rowCount ? 'alter' : 'create'} role ${owner} login createrole nosuperuser nobypassrls${password}`);
    const db = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (!db.rowCount) await admin.query(`create database ${quoteIdent(database)} owner ${owner}`);
  } finally {
    await admin.end();
  }
  const ownerUrl = withCredentials(superuserUrl, ownerRole, ownerPassword, database);
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await setupRoles(client, { appRole, appPassword, systemRole });
  } finally {
    await client.end();
  }
  return { ownerUrl, appUrl: withCredentials(superuserUrl, appRole, appPassword, database) };
}

/** The same server as `url`, with another user, password and database. */
export function withCredentials(url: string, user: string, password: string | undefined, database: string): string {
  const next = new URL(url);
  next.username = encodeURIComponent(user);
  next.password = password === undefined ? '' : encodeURIComponent(password);
  next.pathname = `/${encodeURIComponent(database)}`;
  return next.toString();
}
