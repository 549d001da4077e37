import { tenantPolicies, type Finding, type Lint } from '../lint.js';

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
        // Policies that look tenants up through a function (membership checks) keep their shape:
        // declaring the function STABLE is the fix, when it only reads.
        fix: volatile.map((f) => `alter function ${f.signature} stable; -- if it only reads the database and its settings`).join('\n'),
      });
    }
    return findings;
  },
};
