import { tenantTables, type Finding, type Lint } from '../lint.js';

export const appRoleExcessPrivileges: Lint = {
  id: 'app-role-excess-privileges',
  severity: 'error',
  title: 'The app role holds TRUNCATE, REFERENCES or TRIGGER on tenant tables, or CREATE on a schema',
  run: (catalog) => {
    if (!catalog.appRole) return [];
    const findings: Finding[] = [];
    for (const table of tenantTables(catalog)) {
      const held = (['truncate', 'references', 'trigger'] as const).filter((p) => table.appPrivileges[p]);
      if (held.length === 0) continue;
      findings.push({
        id: 'app-role-excess-privileges',
        severity: 'error',
        object: table.qualified,
        message: `The app role holds ${held.map((p) => p.toUpperCase()).join(', ')}. These privileges ignore row-level security: TRUNCATE empties every tenant, REFERENCES and TRIGGER reach other tenants' rows.`,
        fix: `revoke ${held.join(', ')} on ${table.qualified} from "${catalog.appRole}";`,
      });
    }
    for (const schema of catalog.appCreateSchemas) {
      findings.push({
        id: 'app-role-excess-privileges',
        severity: 'error',
        object: `schema ${schema}`,
        message: 'The app role may CREATE here: it could create functions or tables that shadow yours in a search_path.',
        fix: `revoke create on schema "${schema}" from public, "${catalog.appRole}";`,
      });
    }
    return findings;
  },
};
