import pg from 'pg';
import { quoteIdent, quoteLiteral } from '../db/sql.js';
import { createCitusDatabase, isCitusCoordinator } from './citus/database.js';
import { setupRoles } from './roles.js';
import { scramVerifier } from './scram.js';

/** What `bootstrapDatabase` creates: the database, its owner, and the app and system roles. */
export interface BootstrapOptions {
  /** A superuser connection to any database of the cluster. */
  superuserUrl: string;
  /** The database to create (kept when it exists). */
  database: string;
  /** Login role that owns the database, runs migrations and reaches the system role. */
  ownerRole: string;
  /** Sets (or resets) the owner's password; omitted leaves an existing password alone. */
  ownerPassword?: string;
  /** Login role for request traffic. */
  appRole: string;
  /** Sets (or resets) the app role's password; omitted leaves an existing password alone. */
  appPassword?: string;
  /** Role that crosses tenants, for `asSystem`. */
  systemRole: string;
}

/**
 * From a superuser connection: an owner role (LOGIN, CREATEROLE, not superuser) owning the
 * database, then the app and system roles set up by that owner. Idempotent. Connected to a
 * Citus coordinator, it creates the database on every node, with Citus set up in it.
 *
 * @example
 * ```ts
 * import { bootstrapDatabase } from '@rowguard/kernel';
 * const { ownerUrl, appUrl } = await bootstrapDatabase({
 *   superuserUrl: 'postgres://postgres:secret@localhost:5432/postgres',
 *   database: 'app', ownerRole: 'app_owner', ownerPassword: ownerSecret,
 *   appRole: 'rowguard_app', appPassword: appSecret, systemRole: 'rowguard_system',
 * });
 * ```
 */
export async function bootstrapDatabase(options: BootstrapOptions): Promise<{
  /** The owner's URL for the new database: for migrations and the system pool. */
  ownerUrl: string;
  /** The app role's URL for the new database: for the app pool. */
  appUrl: string;
}> {
  const { superuserUrl, database, ownerRole, ownerPassword, appRole, appPassword, systemRole } = options;
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    const owner = quoteIdent(ownerRole);
    const password = ownerPassword === undefined ? '' : ` password ${quoteLiteral(scramVerifier(ownerPassword))}`;
    const exists = await admin.query('select 1 from pg_roles where rolname = $1', [ownerRole]);
    await admin.query(`${exists.rowCount ? 'alter' : 'create'} role ${owner} login createrole nosuperuser nobypassrls${password}`);
    const db = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (!db.rowCount) {
      if (await isCitusCoordinator(admin)) await createCitusDatabase(admin, superuserUrl, database, ownerRole);
      else await admin.query(`create database ${quoteIdent(database)} owner ${owner}`);
    }
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

/**
 * The same server as `url`, with another user, password and database.
 *
 * @example
 * ```ts
 * import { withCredentials } from '@rowguard/kernel';
 * withCredentials('postgres://postgres:pw@db:5432/postgres', 'rowguard_app', 'secret', 'app'); // 'postgres://rowguard_app:secret@db:5432/app'
 * ```
 */
export function withCredentials(url: string, user: string, password: string | undefined, database: string): string {
  const next = new URL(url);
  next.username = encodeURIComponent(user);
  next.password = password === undefined ? '' : encodeURIComponent(password);
  next.pathname = `/${encodeURIComponent(database)}`;
  return next.toString();
}
