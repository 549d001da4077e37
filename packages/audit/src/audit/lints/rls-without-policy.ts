import { contextFix, predicateFor, restrictivePolicySql, tenantTables, type Lint } from '../lint.js';

export const rlsWithoutPolicy: Lint = {
  id: 'rls-without-policy',
  severity: 'warn',
  title: 'Row-level security enabled but no policy',
  run: (catalog) =>
    tenantTables(catalog)
      .filter((t) => t.rlsEnabled && t.policies.length === 0)
      .map((t) => ({
        id: 'rls-without-policy',
        severity: 'warn',
        object: t.qualified,
        message: 'With no policy every row is hidden from every role bound by RLS: safe, but the table is unusable by the app, which is rarely what was meant.',
        // The shape tenantTableSql writes: the permissive policy, and its restrictive copy for the app role.
        fix: [
          contextFix(catalog, `create policy tenant_isolation on ${t.qualified} using (${predicateFor(catalog)}) with check (${predicateFor(catalog)});`),
          ...(catalog.appRole ? [restrictivePolicySql(t.qualified, { ...catalog, appRole: catalog.appRole })] : []),
        ].join('\n'),
      })),
};

