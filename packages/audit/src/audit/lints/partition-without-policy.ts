import type { Lint } from '../lint.js';

export const partitionWithoutPolicy: Lint = {
  id: 'partition-without-policy',
  severity: 'error',
  title: 'Partition the app role can query directly without its own policies',
  run: (catalog) =>
    catalog.tables
      .filter((t) => t.partitionOf && t.hasTenantColumn && t.appPrivileges.select && (!t.rlsEnabled || t.policies.length === 0))
      .map((t) => ({
        id: 'partition-without-policy',
        severity: 'error' as const,
        object: t.qualified,
        message: `Queried directly, a partition uses only its own policies, not those of ${t.partitionOf}: the app role reads every tenant's rows in it.`,
        fix: `revoke all on ${t.qualified} from "${catalog.appRole}";  -- or enable, force and add the tenant policy on the partition`,
      })),
};
