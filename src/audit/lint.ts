import type { Catalog } from './catalog.js';

export type Severity = 'error' | 'warn' | 'info';

/** One result of one lint; the JSON output is exactly this shape. */
export interface Finding {
  id: string;
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

export const quoteIdent = (name: string) => '"' + name.replace(/"/g, '""') + '"';

/** The standard tenant predicate: pinned, missing_ok, '' guarded, no cast on the column. */
export const tenantPredicate = (column: string) => `${quoteIdent(column)} = nullif(current_setting('app.tenant_id', true), '')::uuid`;

/**
 * ALTER POLICY to the standard predicate, with the clauses its command takes (INSERT has
 * only WITH CHECK; SELECT and DELETE only USING).
 */
export function repinPolicySql(table: string, policy: { name: string; command: string }, column: string): string {
  const predicate = tenantPredicate(column);
  const using = policy.command !== 'a' ? ` using (${predicate})` : '';
  const check = policy.command === '*' || policy.command === 'a' || policy.command === 'w' ? ` with check (${predicate})` : '';
  return `alter policy ${quoteIdent(policy.name)} on ${table}${using}${check};`;
}
