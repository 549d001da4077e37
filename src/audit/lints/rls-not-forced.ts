import { tenantTables, type Lint } from '../lint.js';

export const rlsNotForced: Lint = {
  id: 'rls-not-forced',
  severity: 'error',
  title: 'Row-level security not forced, so the table owner bypasses it',
  run: (catalog) =>
    tenantTables(catalog)
      .filter((t) => t.rlsEnabled && !t.rlsForced)
      .map((t) => ({
        id: 'rls-not-forced',
        severity: 'error',
        object: t.qualified,
        message: `The owner (${t.owner}) bypasses the policies, and so does every view it owns that reads this table.`,
        fix: `alter table ${t.qualified} force row level security;`,
      })),
};
