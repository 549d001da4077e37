import { hasRestrictivePin, restrictivePolicySql, tenantTables, type Lint } from '../lint.js';

/**
 * Permissive policies are OR-ed: when the tenant predicate is only permissive, any permissive
 * policy added later (a report's `using (status = 'paid')`) silently opens other tenants' rows.
 * A restrictive copy of the predicate for the app role holds whatever is added.
 */
export const tenantNotRestricted: Lint = {
  id: 'tenant-not-restricted',
  severity: 'warn',
  title: 'Tenant isolation only in permissive policies',
  run: (catalog) => {
    const appRole = catalog.appRole;
    if (!appRole) return [];
    return tenantTables(catalog)
      .filter((t) => t.rlsEnabled && t.policies.length > 0 && !hasRestrictivePin(catalog, t))
      .map((t) => ({
        id: 'tenant-not-restricted',
        severity: 'warn',
        object: t.qualified,
        message: `No RESTRICTIVE policy pins ${catalog.tenantColumn} for ${appRole}: permissive policies are OR-ed, so any permissive policy added later widens what it sees to other tenants' rows.`,
        fix: restrictivePolicySql(t.qualified, { ...catalog, appRole }),
      }));
  },
};
