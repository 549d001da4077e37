import type pg from 'pg';
import { RowguardError, UnsafeRoleError } from '../errors.js';
import { quoteIdent, quoteLiteral } from '../db/sql.js';
import { isCitus } from './citus/database.js';
import { scramVerifier } from './scram.js';

/** The roles `setupRoles` creates or corrects, and the schema their grants cover. */
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
 *
 * On Citus (the extension is in the database): the app role's `SET LOCAL` of the tenant
 * reaches the workers (`citus.propagate_set_commands = 'local'`, for that role in this
 * database only: set database-wide, Citus forwards whole multi-statement texts and the owner's
 * commands fail), and the system role may log in, because Citus opens its connections to the
 * workers as the current role. It gets no password here: the cluster's own authentication
 * between nodes (certificates, or a password in Citus's `pg_dist_authinfo`, which only
 * superusers read) lets it through, and nothing outside the cluster needs to.
 *
 * @param owner - a connection as the schema owner (with CREATEROLE)
 * @param options - the role names, the app role's password and the schema
 * @example
 * ```ts
 * import pg from 'pg';
 * import { setupRoles } from '@rowguard/kernel';
 * const owner = new pg.Client({ connectionString: process.env.OWNER_URL });
 * await owner.connect();
 * await setupRoles(owner, { appRole: 'rowguard_app', appPassword: process.env.APP_PASSWORD, systemRole: 'rowguard_system' });
 * await owner.end();
 * ```
 */
export async function setupRoles(owner: pg.ClientBase, { appRole, appPassword, systemRole, schema = 'public' }: RoleSetupOptions): Promise<void> {
  const app = quoteIdent(appRole);
  const system = quoteIdent(systemRole);
  const existing = await owner.query<RoleRow>(
    `select rolname, rolsuper, rolbypassrls, rolcanlogin, rolcreatedb, rolcreaterole, rolinherit, rolreplication
     from pg_roles where rolname = any($1)`,
    [[appRole, systemRole]],
  );
  const find = (name: string) => existing.rows.find((r) => r.rolname === name);
  const database = quoteIdent(await currentDatabase(owner));
  const citus = await isCitus(owner);
  const password = appPassword === undefined ? [] : [`password ${quoteLiteral(scramVerifier(appPassword))}`];
  const statements = [
    ...roleStatements(appRole, find(appRole), { login: true }, password),
    ...roleStatements(systemRole, find(systemRole), { login: citus }, []),
    ...(citus ? [`alter role ${app} in database ${database} set citus.propagate_set_commands = 'local'`] : []),
    // The owner reaches the system role by SET ROLE inside asSystem; the app role never can.
    `grant ${system} to current_user`,
    // A temporary table named like a tenant table would shadow it for every later request on
    // that pooled connection (pg_temp comes first in search_path), so nobody gets TEMP.
    `revoke temporary on database ${database} from public`,
    `grant connect on database ${database} to ${app}, ${system}`,
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

interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolbypassrls: boolean;
  rolcanlogin: boolean;
  rolcreatedb: boolean;
  rolcreaterole: boolean;
  rolinherit: boolean;
  rolreplication: boolean;
}

/**
 * CREATE the role, or ALTER only the attributes that are wrong: PostgreSQL 16+ refuses a
 * non-superuser that merely restates an attribute such as NOCREATEDB.
 */
function roleStatements(name: string, role: RoleRow | undefined, { login }: { login: boolean }, extra: string[]): string[] {
  const ident = quoteIdent(name);
  if (!role) return [`create role ${ident} ${[login ? 'login' : 'nologin', 'noinherit', ...extra].join(' ')}`];
  if (role.rolsuper || role.rolbypassrls) {
    throw new UnsafeRoleError('UNSAFE_APP_ROLE', `refusing to use role "${name}": it is a superuser or has BYPASSRLS, so row-level security would not hold`);
  }
  const fixes = [
    role.rolcanlogin !== login ? (login ? 'login' : 'nologin') : null,
    role.rolcreatedb ? 'nocreatedb' : null,
    role.rolcreaterole ? 'nocreaterole' : null,
    role.rolinherit ? 'noinherit' : null,
    role.rolreplication ? 'noreplication' : null,
    ...extra,
  ].filter((fix): fix is string => fix !== null);
  return fixes.length > 0 ? [`alter role ${ident} ${fixes.join(' ')}`] : [];
}

async function currentDatabase(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ db: string }>('select current_database() as db');
  return rows[0]!.db;
}
