import { tenantTables, type Lint } from '../lint.js';

export const sequenceIds: Lint = {
  id: 'sequence-ids',
  severity: 'info',
  title: 'Sequence-backed ids on a tenant table',
  run: (catalog) =>
    tenantTables(catalog)
      .filter((t) => t.sequenceColumns.length > 0)
      .map((t) => ({
        id: 'sequence-ids',
        severity: 'info' as const,
        object: t.qualified,
        message: `Values of ${t.sequenceColumns.join(', ')} come from a sequence shared by all tenants: the numbers a tenant sees reveal how much the others create. Prefer UUIDs.`,
      })),
};
