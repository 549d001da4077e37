import { repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

export const volatileFunctionInPolicy: Lint = {
  id: 'volatile-function-in-policy',
  severity: 'warn',
  title: 'Policy calls a VOLATILE function',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      const volatile = policy.functions.filter((f) => f.volatility === 'v');
      if (volatile.length === 0) continue;
      findings.push({
        id: 'volatile-function-in-policy',
        severity: 'warn',
        object: `${table.qualified} policy ${policy.name}`,
        message: `It calls ${volatile.map((f) => f.name).join(', ')}, which is VOLATILE: evaluated for every row, never as an index condition.`,
        fix: repinFixFor(catalog, table.qualified, policy),
      });
    }
    return findings;
  },
};
