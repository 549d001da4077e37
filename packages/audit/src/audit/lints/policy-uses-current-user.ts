import { usesCurrentUser } from '../policy-expression.js';
import { concernsApp, repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

export const policyUsesCurrentUser: Lint = {
  id: 'policy-uses-current-user',
  severity: 'warn',
  title: 'Policy compares to current_user or session_user',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      // For a role the app role cannot become (system_access requiring an explicit SET ROLE),
      // current_user is a role check, not a stand-in for the tenant.
      if (!concernsApp(catalog, policy.roles)) continue;
      if (![policy.using, policy.check].some((e) => e && usesCurrentUser(e))) continue;
      findings.push({
        id: 'policy-uses-current-user',
        severity: 'warn',
        object: `${table.qualified} policy ${policy.name}`,
        message: 'When every request connects as the same role, current_user is the same for all tenants: this condition isolates nothing.',
        fix: repinFixFor(catalog, table.qualified, policy),
      });
    }
    return findings;
  },
};
