import type { Lint } from '../lint.js';

export const unprotectedRelation: Lint = {
  id: 'unprotected-relation',
  severity: 'error',
  title: 'Materialized view or foreign table with tenant data readable by the app role',
  run: (catalog) =>
    catalog.relations
      .filter((r) => (r.kind === 'm' || r.kind === 'f') && r.appCanSelect)
      .filter((r) => r.kind === 'f' || r.readsTenantTables.length > 0)
      .map((r) => ({
        id: 'unprotected-relation',
        severity: 'error' as const,
        object: r.qualified,
        message: `${r.kind === 'm' ? 'A materialized view' : 'A foreign table'} has no row-level security: the app role reads every tenant's rows through it.`,
        fix: `revoke select on ${r.qualified} from "${catalog.appRole}";`,
      })),
};
