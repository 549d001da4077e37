import type { Lint } from '../lint.js';

export const sharedTable: Lint = {
  id: 'shared-table',
  severity: 'info',
  title: 'Table the app role can read that has no tenant column',
  run: (catalog) =>
    catalog.tables
      .filter((t) => !t.hasTenantColumn && t.appPrivileges.select && !t.rlsEnabled)
      .map((t) => ({
        id: 'shared-table',
        severity: 'info' as const,
        object: t.qualified,
        message: `Every tenant reads all of it. Fine for shared reference data; confirm it holds nothing that belongs to one tenant.`,
      })),
};
