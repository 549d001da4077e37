import { contextSources } from '../policy-expression.js';
import { concernsApp, repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

/**
 * A policy whose WITH CHECK takes the tenant from somewhere else than its USING, or not at
 * all: an UPDATE then checks the old row against one tenant and the new row against another
 * (or nothing), so a row can be moved out of the tenant that may see it.
 */
export const checkDiffersFromUsing: Lint = {
  id: 'check-differs-from-using',
  severity: 'error',
  title: 'WITH CHECK and USING of a policy read different tenants',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      if (!concernsApp(catalog, policy.roles)) continue; // a role check for another role (system_access) reads no tenant
      if (policy.using === null || policy.check === null) continue; // absent WITH CHECK reuses USING
      const using = contextSources(policy.using).sort().join(' + ');
      const check = contextSources(policy.check).sort().join(' + ');
      if (!using || using === check) continue;
      findings.push({
        id: 'check-differs-from-using',
        severity: 'error',
        object: `${table.qualified} policy ${policy.name}`,
        message: `Its USING takes the tenant from ${using} but its WITH CHECK from ${check || 'nowhere'}: an update can write a row the tenant it was read as could never see.`,
        fix: repinFixFor(catalog, table.qualified, policy),
      });
    }
    return findings;
  },
};
