import { castsColumn } from '../policy-expression.js';
import { repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

export const policyDefeatsIndex: Lint = {
  id: 'policy-defeats-index',
  severity: 'warn',
  title: 'Policy casts the tenant column (or compares it as text)',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      if (![policy.using, policy.check].some((e) => e && castsColumn(e, catalog.tenantColumn))) continue;
      findings.push({
        id: 'policy-defeats-index',
        severity: 'warn',
        object: `${table.qualified} policy ${policy.name}`,
        message: `It casts ${catalog.tenantColumn} before comparing, so no index on the column can serve the filter: every query scans all tenants.`,
        fix: repinFixFor(catalog, table.qualified, policy),
      });
    }
    return findings;
  },
};
