import { tenantTables, type Lint } from '../lint.js';

export const rlsDisabled: Lint = {
  id: 'rls-disabled',
  severity: 'error',
  title: 'Tenant table without row-level security',
  run: (catalog) =>
    tenantTables(catalog)
      .filter((t) => !t.rlsEnabled)
      .map((t) => ({
        id: 'rls-disabled',
        severity: 'error',
        object: t.qualified,
        message:
          t.policies.length > 0
            ? `Row-level security is disabled, so its ${t.policies.length} policies do nothing: every role with access sees every tenant's rows.`
            : "Row-level security is disabled: a query without a tenant filter returns every tenant's rows.",
        fix: `alter table ${t.qualified} enable row level security;`,
      })),
};
