import { tenantTableSql } from '@rowguard/kernel';
import { TEST_ROLES } from './cluster.js';
import type { TestDatabase } from './database.js';

/**
 * A team's own schema, not the service's: authors and their notes, made tenant tables with
 * the generator, a note's author kept inside its tenant by a key that includes the tenant.
 */
export async function createNotesSchema(db: TestDatabase): Promise<void> {
  const owner = await db.ownerClient();
  await owner.query(`
    create table authors (id uuid primary key default gen_random_uuid(), name text not null);
    create table notes (id uuid primary key default gen_random_uuid(), author_id uuid not null, name text not null, written_at timestamp not null default now(), due date not null default current_date);
    create table labels (name text not null);
  `);
  for (const table of ['authors', 'notes', 'labels']) await owner.query(tenantTableSql({ table, appRole: TEST_ROLES.app, systemRole: TEST_ROLES.system }));
  await owner.query(`
    alter table authors add unique (tenant_id, id);
    alter table notes add foreign key (tenant_id, author_id) references authors (tenant_id, id);
    -- Checked at COMMIT: a write that succeeds and a commit that fails.
    alter table labels add unique (tenant_id, name) deferrable initially deferred;
  `);
}
