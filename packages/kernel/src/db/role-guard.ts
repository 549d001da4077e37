import type pg from 'pg';
import { UnsafeRoleError } from '../errors.js';

interface ReachableRole {
  rolname: string;
  is_self: boolean;
  rolsuper: boolean;
  rolbypassrls: boolean;
  owned: string[];
}

// Every role the connected role is, or can become through membership (SET ROLE), with what
// makes it dangerous: superuser, BYPASSRLS, or owning relations (owners can disable RLS).
const REACHABLE_ROLES = `
  select r.rolname,
         r.rolname = current_user as is_self,
         r.rolsuper,
         r.rolbypassrls,
         array(
           select format('%I.%I', n.nspname, c.relname)
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relowner = r.oid
             and c.relkind in ('r', 'p', 'v', 'm', 'f')
             and n.nspname not in ('pg_catalog', 'information_schema')
             and n.nspname not like 'pg\\_toast%'
           order by 1
           limit 3
         ) as owned
  from pg_roles r
  where pg_has_role(current_user, r.oid, 'MEMBER')`;

/**
 * What would let the connected role escape row-level security; empty when it is safe to
 * serve requests with it. Reads the catalog only.
 *
 * @param app - a connection as the app role
 * @param options - the system role, which the app role must not be able to become
 * @example
 * ```ts
 * import { findAppRoleProblems } from '@rowguard/kernel';
 * const client = await appPool.connect();
 * const problems = await findAppRoleProblems(client, { systemRole: 'rowguard_system' }).finally(() => client.release());
 * for (const problem of problems) console.warn(problem); // e.g. app role "app" has BYPASSRLS
 * ```
 */
export async function findAppRoleProblems(app: pg.ClientBase, { systemRole }: { systemRole: string }): Promise<string[]> {
  const { rows } = await app.query<ReachableRole>(REACHABLE_ROLES);
  const problems: string[] = [];
  for (const role of rows) {
    const who = role.is_self ? `app role "${role.rolname}"` : `app role can become "${role.rolname}", which`;
    if (role.rolsuper) problems.push(`${who} is a superuser`);
    if (role.rolbypassrls) problems.push(`${who} has BYPASSRLS`);
    if (role.owned.length > 0) problems.push(`${who} owns ${role.owned.join(', ')}`);
    if (role.rolname === systemRole) problems.push(`${who} is the system role, which crosses tenants`);
  }
  return problems;
}

/**
 * Refuses (`UNSAFE_APP_ROLE`) an app connection whose role is a superuser, has BYPASSRLS,
 * owns tables, or can SET ROLE into a role that does. Call it once at start-up, before
 * serving requests.
 *
 * @example
 * ```ts
 * import { assertSafeAppRole } from '@rowguard/kernel';
 * const client = await appPool.connect();
 * await assertSafeAppRole(client, { systemRole: 'rowguard_system' }).finally(() => client.release());
 * ```
 */
export async function assertSafeAppRole(app: pg.ClientBase, options: { systemRole: string }): Promise<void> {
  const problems = await findAppRoleProblems(app, options);
  if (problems.length > 0) {
    throw new UnsafeRoleError('UNSAFE_APP_ROLE', `refusing to serve: ${problems.join('; ')} — row-level security would not hold`, problems);
  }
}
