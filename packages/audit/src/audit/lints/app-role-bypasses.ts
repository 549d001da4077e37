import type { Finding, Lint } from '../lint.js';

export const appRoleBypasses: Lint = {
  id: 'app-role-bypasses',
  severity: 'error',
  title: 'The app role is, or can become, a role that bypasses row-level security',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const role of catalog.appRoles) {
      const self = role.name === catalog.appRole;
      const who = self ? `The app role ${role.name}` : `The app role can become ${role.name}, which`;
      const problems = [
        role.superuser && 'is a superuser',
        role.bypassRls && 'has BYPASSRLS',
        role.owns.length > 0 && `owns ${role.owns.slice(0, 3).join(', ')}${role.owns.length > 3 ? ', …' : ''} (owners can disable RLS, and bypass it unless forced)`,
      ].filter(Boolean);
      if (problems.length === 0) continue;
      findings.push({
        id: 'app-role-bypasses',
        severity: 'error',
        object: `role ${role.name}`,
        message: `${who} ${problems.join(' and ')}: request traffic is not bound by the policies.`,
        fix: self
          ? [role.superuser && `alter role "${role.name}" nosuperuser;`, role.bypassRls && `alter role "${role.name}" nobypassrls;`, role.owns.length && `-- transfer ownership: alter table … owner to <owner role>;`].filter(Boolean).join('\n')
          : `revoke "${role.name}" from "${catalog.appRole}";`,
      });
    }
    return findings;
  },
};
