import { tenantTables, type Finding, type Lint } from '../lint.js';

export const uniqueWithoutTenant: Lint = {
  id: 'unique-without-tenant',
  severity: 'warn',
  title: 'Unique constraint or index on a tenant table without the tenant column',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const table of tenantTables(catalog)) {
      for (const unique of table.uniques) {
        if (unique.columns.includes(catalog.tenantColumn)) continue;
        findings.push({
          id: 'unique-without-tenant',
          severity: 'warn',
          object: `${table.qualified} ${unique.constraint ? 'constraint' : 'index'} ${unique.name}`,
          message: `Uniqueness is checked across tenants: an insert that fails tells one tenant that another has that ${unique.columns.join(', ')} (an existence oracle).`,
          fix: unique.constraint
            ? `alter table ${table.qualified} drop constraint "${unique.name}", add ${unique.primaryKey ? 'primary key' : 'unique'} ("${catalog.tenantColumn}", ${unique.columns.map((c) => `"${c}"`).join(', ')});`
            : `drop index "${table.schema}"."${unique.name}"; create unique index on ${table.qualified} ("${catalog.tenantColumn}", ${unique.columns.map((c) => `"${c}"`).join(', ')});`,
        });
      }
    }
    return findings;
  },
};
