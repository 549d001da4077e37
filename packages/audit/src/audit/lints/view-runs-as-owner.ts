import type { Lint } from '../lint.js';

export const viewRunsAsOwner: Lint = {
  id: 'view-runs-as-owner',
  severity: 'error',
  title: 'View over tenant tables without security_invoker, owned by a role that bypasses RLS',
  run: (catalog) => {
    const forcedTables = new Set(catalog.tables.filter((t) => t.rlsEnabled && t.rlsForced).map((t) => t.qualified));
    return catalog.relations
      .filter((v) => v.kind === 'v' && !v.securityInvoker && v.readsTenantTables.length > 0)
      // An owner bound by the policies (not superuser or BYPASSRLS, tables forced) is harmless.
      .filter((v) => v.ownerBypassesRls || v.readsTenantTables.some((t) => !forcedTables.has(t)))
      .map((v) => ({
        id: 'view-runs-as-owner',
        severity: 'error' as const,
        object: v.qualified,
        message: `The view reads ${v.readsTenantTables.join(', ')} as its owner ${v.owner}, who is not bound by the policies: through it every caller sees every tenant's rows.`,
        fix: `alter view ${v.qualified} set (security_invoker = true);`,
      }));
  },
};
