import { tenantTables, type Finding, type Lint } from '../lint.js';

const COMMANDS: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };

export const multiplePermissivePolicies: Lint = {
  id: 'multiple-permissive-policies',
  severity: 'info',
  title: 'Several permissive policies for the same role and command',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const table of tenantTables(catalog)) {
      const groups = new Map<string, string[]>();
      for (const policy of table.policies.filter((p) => p.permissive)) {
        for (const role of policy.roles) {
          const key = `${role}:${policy.command}`;
          groups.set(key, [...(groups.get(key) ?? []), policy.name]);
        }
      }
      for (const [key, names] of groups) {
        if (names.length < 2) continue;
        const [role, command] = key.split(':');
        findings.push({
          id: 'multiple-permissive-policies',
          severity: 'info',
          object: table.qualified,
          message: `Policies ${names.join(', ')} are OR-ed for ${role} on ${COMMANDS[command!]}: each one widens what the others allow, and the planner must evaluate them all.`,
        });
      }
    }
    return findings;
  },
};
