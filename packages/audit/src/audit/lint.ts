import type { Catalog, Table } from './catalog.js';
import { quoteIdent, tenantPredicate } from '@rowguard/kernel';
import { whyNotPinned } from './policy-expression.js';

/** How much a finding matters: an `error` is a hole and fails the audit by default, a `warn` a weakness, an `info` a note. */
export type Severity = 'error' | 'warn' | 'info';

/** One result of one lint; the JSON output is exactly this shape. */
export interface Finding {
  /** The lint that found it, e.g. `rls-not-forced`. */
  id: string;
  /** How much it matters; the findings of a reviewed policy are notes. */
  severity: Severity;
  /** The object it is about, e.g. "public.projects" or "role app". */
  object: string;
  /** What is wrong and why it matters, in one or two sentences. */
  message: string;
  /** SQL that fixes it, when a fix can be written without guessing. */
  fix?: string;
}

export interface Lint {
  id: string;
  severity: Severity;
  /** One line on what the lint looks for. */
  title: string;
  run(catalog: Catalog): Finding[];
}

/** Tables that hold tenant data: they have the tenant column. */
export const tenantTables = (catalog: Catalog) => catalog.tables.filter((t) => t.hasTenantColumn);

/** Every policy of every tenant table, with its table. */
export function* tenantPolicies(catalog: Catalog): Generator<{ table: Catalog['tables'][number]; policy: Catalog['tables'][number]['policies'][number] }> {
  for (const table of tenantTables(catalog)) for (const policy of table.policies) yield { table, policy };
}

/**
 * The predicate tenantTableSql writes, in this database's terms: signed where its policies use
 * rowguard.tenant_id(), else reading the setting its policies read, cast to its column's type.
 */
export const predicateFor = (catalog: Catalog) =>
  tenantPredicate(catalog.tenantColumn, { signed: catalog.signedContext, setting: catalog.contextSetting, type: catalog.tenantColumnType });

/**
 * ALTER POLICY to the standard predicate, with the clauses its command takes (INSERT has
 * only WITH CHECK; SELECT and DELETE only USING).
 */
export function repinPolicySql(table: string, policy: { name: string; command: string }, catalog: Catalog): string {
  const predicate = predicateFor(catalog);
  const using = policy.command !== 'a' ? ` using (${predicate})` : '';
  const check = policy.command === '*' || policy.command === 'a' || policy.command === 'w' ? ` with check (${predicate})` : '';
  return contextFix(catalog, `alter policy ${quoteIdent(policy.name)} on ${table}${using}${check};`);
}

/**
 * SQL that writes the context predicate: as is, unless the database looks tenants up by
 * membership instead of a context, where it is commented out with why (it would lock the app out).
 */
export function contextFix(catalog: Catalog, sql: string): string {
  if (!catalog.looksUpTenants) return sql;
  return `-- the tenant policies here look tenants up (a membership check) and read no tenant context: write this with your own check\n-- ${sql.replaceAll('\n', '\n-- ')}`;
}

/**
 * The standard-predicate ALTER POLICY for a policy, when rewriting it certainly concerns the
 * app role: a policy for PUBLIC, or for a role the known app role can become. Never for a
 * policy scoped to another role (system_access, whose USING is a role check): rewriting it
 * to the tenant predicate would lock that role out. Undefined when it must be left alone.
 */
export function repinFixFor(catalog: Catalog, table: string, policy: { name: string; command: string; roles: readonly string[] }): string | undefined {
  const concerns = policy.roles.includes('public') || (catalog.appRole !== null && concernsApp(catalog, policy.roles));
  return concerns ? repinPolicySql(table, policy, catalog) : undefined;
}

/** Policies for roles the app role cannot become (a system role's bypass) do not concern it. */
export function concernsApp(catalog: Catalog, roles: readonly string[]): boolean {
  if (!catalog.appRole) return true;
  const appRoles = new Set(catalog.appRoles.map((r) => r.name));
  return roles.some((r) => r === 'public' || appRoles.has(r));
}

/**
 * A RESTRICTIVE policy for every command that pins the tenant column in USING and WITH CHECK
 * and applies to the app role: it is AND-ed with every permissive policy, so none can widen it.
 */
export function hasRestrictivePin(catalog: Catalog, table: Table): boolean {
  return table.policies.some(
    (p) =>
      !p.permissive &&
      p.command === '*' &&
      concernsApp(catalog, p.roles) &&
      p.using !== null &&
      whyNotPinned(p.using, catalog.tenantColumn) === null &&
      (p.check === null || whyNotPinned(p.check, catalog.tenantColumn) === null),
  );
}

/** The restrictive tenant policy for the app role, as tenantTableSql writes it. */
export function restrictivePolicySql(table: string, catalog: Catalog & { appRole: string }): string {
  const predicate = predicateFor(catalog);
  return contextFix(catalog, `create policy tenant_isolation_required on ${table} as restrictive to ${quoteIdent(catalog.appRole)} using (${predicate}) with check (${predicate});`);
}

