import { mentionsColumn, orBranches, settingsRead } from '../policy-expression.js';
import { repinPolicySql, tenantPolicies, type Finding, type Lint } from '../lint.js';

/**
 * A policy must pin the tenant column in every branch of what it allows: an always-true
 * expression, one that never names the column, or an OR with a branch that does not (IS NULL
 * OR …, a bypass flag the app role can set itself) opens rows of every tenant.
 */
export const policyNotPinned: Lint = {
  id: 'policy-not-pinned',
  severity: 'error',
  title: 'Policy does not pin the tenant column',
  run: (catalog) => {
    const findings: Finding[] = [];
    // Policies for roles the app role cannot become (a system role's bypass) are not its concern.
    const appRoles = new Set(catalog.appRoles.map((r) => r.name));
    const concernsApp = (roles: string[]) => !catalog.appRole || roles.some((r) => r === 'public' || appRoles.has(r));
    for (const { table, policy } of tenantPolicies(catalog)) {
      if (!policy.permissive || !concernsApp(policy.roles)) continue; // restrictive policies only narrow
      for (const [clause, expression] of [['USING', policy.using], ['WITH CHECK', policy.check]] as const) {
        if (expression === null) continue;
        const problem = reason(expression, catalog.tenantColumn);
        if (!problem) continue;
        findings.push({
          id: 'policy-not-pinned',
          severity: 'error',
          object: `${table.qualified} policy ${policy.name}`,
          message: `Its ${clause} ${problem}, so it admits rows of other tenants for ${policy.roles.map((r) => (r === 'public' ? 'every role' : r)).join(', ')}.`,
          fix: repinPolicySql(table.qualified, policy, catalog.tenantColumn),
        });
      }
    }
    return findings;
  },
};

function reason(expression: string, column: string): string | null {
  if (/^\(?\s*true\s*\)?$/i.test(expression.trim())) return 'is always true';
  if (!mentionsColumn(expression, column)) return `never refers to ${column}`;
  const branches = orBranches(expression);
  if (branches.length === 1) return null;
  const open = branches.find((b) => !mentionsColumn(b, column));
  if (!open) return null;
  if (/IS NULL/i.test(open)) return `has an "IS NULL OR …" branch (${open.trim()})`;
  const setting = settingsRead(open)[0];
  if (setting) return `has an OR branch controlled by the setting ${setting.name}, which any role can set for itself`;
  return `has an OR branch that does not involve ${column} (${open.trim()})`;
}
