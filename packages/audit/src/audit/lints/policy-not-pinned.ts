import { whyNotPinned } from '../policy-expression.js';
import { concernsApp, hasRestrictivePin, repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

/**
 * A permissive policy must pin the tenant column in every branch of what it allows: an
 * always-true expression, one that never names the column, or an OR with a branch that does
 * not (IS NULL OR …, a bypass flag the app role can set itself) opens rows of every tenant.
 */
export const policyNotPinned: Lint = {
  id: 'policy-not-pinned',
  severity: 'error',
  title: 'Policy does not pin the tenant column',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      // Restrictive policies only narrow; policies for roles the app role cannot become (a
      // system role's bypass) are not its concern; and a permissive policy cannot widen
      // what a pinned restrictive policy allows the app role.
      if (!policy.permissive || !concernsApp(catalog, policy.roles) || hasRestrictivePin(catalog, table)) continue;
      for (const [clause, expression] of [['USING', policy.using], ['WITH CHECK', policy.check]] as const) {
        if (expression === null) continue;
        const problem = whyNotPinned(expression, catalog.tenantColumn);
        if (!problem) continue;
        findings.push({
          id: 'policy-not-pinned',
          severity: 'error',
          object: `${table.qualified} policy ${policy.name}`,
          message: `Its ${clause} ${problem}, so it admits rows of other tenants for ${policy.roles.map((r) => (r === 'public' ? 'every role' : r)).join(', ')}.`,
          fix: repinFixFor(catalog, table.qualified, policy),
        });
      }
    }
    return findings;
  },
};
