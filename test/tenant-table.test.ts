import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { SERVICE_MIGRATIONS, readMigrations } from '../src/schema/migrate.js';
import { tenantPredicate, tenantTableSql } from '../src/schema/tenant-table.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { discoverTenantTables } from './helpers/isolation-check.js';

let db: TestDatabase;
let owner: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase();
  owner = await db.ownerClient();
});
afterAll(() => db.close());

describe('tenantTableSql', () => {
  it('emits RLS enabled and forced, one inline policy for reads and writes, the system policy, an index and grants', () => {
    const sql = tenantTableSql({ table: 'crm.contacts', appRole: 'app', systemRole: 'sys', index: ['created_at desc'] });
    expect(sql).toContain('alter table "crm"."contacts" enable row level security;');
    expect(sql).toContain('alter table "crm"."contacts" force row level security;');
    expect(sql).toContain(`using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
    expect(sql).toContain(`with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
    expect(sql).toContain('create policy system_access on "crm"."contacts" to "sys"');
    expect(sql).toContain('create index "contacts_tenant_id_created_at_idx" on "crm"."contacts" ("tenant_id", created_at desc);');
    expect(sql).toContain('grant select, insert, update, delete on "crm"."contacts" to "app";');
    // No subquery, function wrapper, cast on the column, or OR branch in the predicate.
    expect(tenantPredicate()).not.toMatch(/select|\bor\b|"tenant_id"::/i);
  });

  it('is what the service migrations contain for each tenant table', async () => {
    const all = (await readMigrations(SERVICE_MIGRATIONS)).map((m) => m.sql).join('\n');
    const blocks = all.split('-- tenant isolation for ').slice(1);
    const tables = await discoverTenantTables(owner);
    expect(blocks.map((b) => b.split(' ')[0]).sort()).toEqual(tables.map((t) => t.table).sort());
    for (const block of blocks) {
      const table = block.split(' ')[0]!;
      expect(block).toContain(`create policy tenant_isolation on "${table}"`);
      expect(block).toContain(tenantPredicate(table === 'tenants' ? 'id' : 'tenant_id'));
    }
    expect(await readFile(`${SERVICE_MIGRATIONS}/0002_projects_tasks_documents_comments.sql`, 'utf8')).toContain(tenantTableSql({ table: 'tasks' }));
  });

  it('leaves every tenant table in the catalog forced, with exactly the two generated policies', async () => {
    const { rows } = await owner.query(`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
             array_agg(p.polname::text order by p.polname) as policies,
             bool_and(p.polpermissive) as permissive,
             bool_and(p.polcmd = '*') as all_commands
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_policy p on p.polrelid = c.oid
      where n.nspname = 'public' and c.relkind = 'r'
      group by c.relname, c.relrowsecurity, c.relforcerowsecurity`);
    const tables = (await discoverTenantTables(owner)).map((t) => t.table);
    for (const table of tables) {
      expect(rows.find((r) => r.table === table)).toEqual({
        table,
        enabled: true,
        forced: true,
        policies: ['system_access', 'tenant_isolation'],
        permissive: true,
        all_commands: true,
      });
    }
    const system = await owner.query(`select count(*)::int as n from pg_policies where policyname = 'system_access' and roles <> array[$1]::name[]`, [TEST_ROLES.system]);
    expect(system.rows[0].n).toBe(0);
  });

  it('makes a new table a tenant table that hides everything without context', async () => {
    await owner.query('create table notes (tenant_id uuid not null references tenants (id), id uuid not null default gen_random_uuid(), created_at timestamptz not null default now(), primary key (tenant_id, id))');
    await owner.query(tenantTableSql({ table: 'notes', appRole: TEST_ROLES.app, systemRole: TEST_ROLES.system }));
    const app = await db.appClient();
    await expect(app.query('insert into notes (tenant_id) values (gen_random_uuid())')).rejects.toMatchObject({ code: '42501' });
    expect((await app.query('select count(*)::int as n from notes')).rows[0].n).toBe(0);
  });
});
