import { tenantTables, type Lint } from '../lint.js';

export const missingTenantIndex: Lint = {
  id: 'missing-tenant-index',
  severity: 'warn',
  title: 'Tenant column without an index that leads with it',
  run: (catalog) =>
    tenantTables(catalog)
      .filter((t) => !t.indexLeads.includes(catalog.tenantColumn))
      .map((t) => ({
        id: 'missing-tenant-index',
        severity: 'warn' as const,
        object: t.qualified,
        message: `No index leads with ${catalog.tenantColumn}: every policy check is a scan of all tenants' rows, which grows with the whole table.`,
        fix: `create index on ${t.qualified} ("${catalog.tenantColumn}");`,
      })),
};
