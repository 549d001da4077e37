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
        // FORCE binds an ordinary owner; a superuser or BYPASSRLS owner skips RLS regardless.
        message: t.ownerBypassesRls
          ? `The owner (${t.owner}) bypasses the policies, and so does every view it owns that reads this table; being a superuser or BYPASSRLS role, it would even with FORCE: give the table an owner without those attributes, then force RLS.`
          : `The owner (${t.owner}) bypasses the policies, and so does every view it owns that reads this table.`,
        fix: t.ownerBypassesRls
          ? `-- alter table ${t.qualified} owner to <a role without SUPERUSER or BYPASSRLS>;\nalter table ${t.qualified} force row level security;`
          : `alter table ${t.qualified} force row level security;`,
      })),
};
