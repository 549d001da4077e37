import type pg from 'pg';
import { RowguardError } from '../errors.js';
import { quoteIdent, quoteLiteral } from '../db/quote.js';
import { scramVerifier } from './scram.js';

export interface RoleSetupOptions {
  /** Login role for request traffic. */
  appRole: string;
  /** Sets (or resets) the app role's password; omitted leaves an existing password alone. */
  appPassword?: string;
  /** Role that crosses tenants; the connecting (owner) role is made able to SET ROLE to it. */
  systemRole: string;
  /** Schema holding the tenant tables. */
  schema?: string;
}

/**
 * Creates and locks down the app and system roles. Runs as the owner, which needs CREATEROLE
 * and must own the database. Idempotent: safe on every start.
 *
 * The app role: LOGIN, NOSUPERUSER, NOBYPASSRLS, NOCREATEDB, NOCREATEROLE, NOINHERIT, member
 * of nothing, USAGE but not CREATE on the schema, no TEMP, and SELECT/INSERT/UPDATE/DELETE on
 * tables the owner creates from now on (tenant tables get explicit grants from their migration).
 */
export async function setupRoles(owner: pg.ClientBase, { appRole, appPassword, systemRole, schema = 'public' }: RoleSetupOptions): Promise<void> {
  const app = quoteIdent(appRole);
  const system = quoteIdent(systemRole);
  const existing = await owner.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
    'select rolname, rolsuper, rolbypassrls from pg_roles where rolname = any($1)',
    [[appRole, systemRole]],
  );
  for (const role of existing.rows) {
    if (role.rolsuper || role.rolbypassrls) {
      throw new RowguardError('ROLE_SETUP_FAILED', `role "${role.rolname}" is a superuser or has BYPASSRLS; drop it or use another name`);
    }
  }
  const has = (name: string) => existing.rows.some((r) => r.rolname === name);
  const password = appPassword === undefined ? '' : ` password ${quoteLiteral(scramVerifier(appPassword))}`;
  const statements = [
    has(appRole)
      ? `alter role ${app} login nocreatedb nocreaterole noinherit noreplication${password}`
      : `create role ${app} login nocreatedb nocreaterole noinherit noreplication${password}`,
    has(systemRole) ? `alter role ${system} nologin nocreatedb nocreaterole noinherit` : `create role ${system} nologin noinherit`,
    // The owner reaches the system role by SET ROLE inside asSystem; the app role never can.
    `grant ${system} to current_user`,
    // A temporary table named like a tenant table would shadow it for every later request on
    // that pooled connection (pg_temp comes first in search_path), so nobody gets TEMP.
    `revoke temporary on database ${quoteIdent(await currentDatabase(owner))} from public`,
    `grant connect on database ${quoteIdent(await currentDatabase(owner))} to ${app}, ${system}`,
    `revoke create on schema ${quoteIdent(schema)} from public`,
    `grant usage on schema ${quoteIdent(schema)} to ${app}, ${system}`,
    `alter default privileges in schema ${quoteIdent(schema)} grant select, insert, update, delete on tables to ${app}, ${system}`,
    // SECURITY DEFINER functions must be granted one by one, never by default.
    `alter default privileges revoke execute on functions from public`,
  ];
  try {
    for (const statement of statements) await owner.query(statement);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new RowguardError('ROLE_SETUP_FAILED', `setting up roles failed: ${reason} (the owner needs CREATEROLE and must own the database)`, { cause: error });
  }
}

async function currentDatabase(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ db: string }>('select current_database() as db');
  return rows[0]!.db;
}
