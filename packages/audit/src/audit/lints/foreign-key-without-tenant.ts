import { tenantTables, type Finding, type Lint } from '../lint.js';

export const foreignKeyWithoutTenant: Lint = {
  id: 'foreign-key-without-tenant',
  severity: 'error',
  title: 'Foreign key between tenant tables without the tenant column',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const table of tenantTables(catalog)) {
      for (const fk of table.foreignKeys) {
        if (!fk.referencesTenantTable || fk.columns.includes(catalog.tenantColumn)) continue;
        findings.push({
          id: 'foreign-key-without-tenant',
          severity: 'error',
          object: `${table.qualified} constraint ${fk.name}`,
          message: `Foreign key checks bypass row-level security: (${fk.columns.join(', ')}) can point at another tenant's row of ${fk.references}.`,
          fix: `-- include the tenant column on both sides, e.g.:\nalter table ${table.qualified} drop constraint "${fk.name}", add foreign key ("${catalog.tenantColumn}", ${fk.columns.map((c) => `"${c}"`).join(', ')}) references ${fk.references} ("${catalog.tenantColumn}", id);`,
        });
      }
    }
    return findings;
  },
};
