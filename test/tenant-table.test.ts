import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { readMigrations } from '../packages/kernel/src/schema/migrate.js';
import { SERVICE_MIGRATIONS } from '../src/service-migrations.js';
import { tenantPredicate } from '../packages/kernel/src/db/sql.js';
import { parseIndexColumns, tenantTableSql } from '../packages/kernel/src/schema/tenant-table.js';
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
    expect(sql).not.toContain('rowguard.tenant_id');
    const signedSql = tenantTableSql({ table: 'crm.contacts', appRole: 'app', systemRole: 'sys', signedContext: true });
    expect(signedSql).toContain(`using ("tenant_id" = (select rowguard.tenant_id()))`);
    expect(signedSql).toContain(`with check ("tenant_id" = (select rowguard.tenant_id()))`);
    expect(sql).toContain('create policy system_access on "crm"."contacts" to "sys"');
    expect(sql).toContain('create policy tenant_isolation_required on "crm"."contacts" as restrictive to "app"');
    expect(sql).toContain('create index if not exists "contacts_tenant_id_created_at_idx" on "crm"."contacts" ("tenant_id", created_at desc);');
    expect(sql).toContain('grant select, insert, update, delete on "crm"."contacts" to "app";');
    // No function wrapper, cast on the column or OR branch in the plain predicate; the signed one
    // is exactly the column against one subquery (an InitPlan, evaluated once per statement).
    expect(tenantPredicate()).not.toMatch(/select|\bor\b|"tenant_id"::/i);
    expect(tenantPredicate('tenant_id', { signed: true })).toBe('"tenant_id" = (select rowguard.tenant_id())');
  });

  it('indexes the tenant column alone by default, adds it when missing, and wraps itself in a transaction only when asked', () => {
    const sql = tenantTableSql({ table: 'contacts', appRole: 'app', systemRole: 'sys' });
    expect(sql).toContain('create index if not exists "contacts_tenant_id_idx" on "contacts" ("tenant_id");');
    expect(sql).not.toContain('created_at');
    expect(sql).toContain('alter table "contacts" add column if not exists "tenant_id" uuid;');
    expect(sql).toContain('alter table "contacts" alter column "tenant_id" set not null;');
    // Inside a migration runner's transaction, a begin/commit of its own would commit the runner's work early.
    expect(sql).not.toMatch(/^(begin|commit);$/m);
    const wrapped = tenantTableSql({ table: 'contacts', appRole: 'app', systemRole: 'sys', transaction: true });
    const statements = wrapped.split('\n').filter((line) => line.trim() && !line.startsWith('--'));
    expect([statements[0], statements.at(-1)]).toEqual(['begin;', 'commit;']);
    expect(tenantTableSql({ table: 'contacts', index: false, ensureColumn: false })).not.toMatch(/create index|add column/);
    expect(parseIndexColumns(' created_at desc, coalesce(a, b) , "x,y" ')).toEqual(['created_at desc', 'coalesce(a, b)', '"x,y"']);
    expect(parseIndexColumns('none')).toBe(false);
    expect(parseIndexColumns(undefined)).toEqual([]);
    expect(tenantTableSql({ table: 'contacts', index: ['coalesce(a, b)', 'id desc'] })).toContain('create index if not exists "contacts_tenant_id_coalesce_a_id_idx" on "contacts" ("tenant_id", coalesce(a, b), id desc);');
    // The library's default roles stay the psql variables Rowguard's migration runner fills in.
    expect(tenantTableSql({ table: 'contacts' })).toContain('to :"app_role";');
  });

  it('gives every service tenant table exactly the policies it generates', async () => {
    const all = (await readMigrations(SERVICE_MIGRATIONS)).map((m) => m.sql).join('\n');
    const blocks = all.split('-- tenant isolation for ').slice(1);
    const tables = await discoverTenantTables(owner);
    expect(blocks.map((b) => b.split(' ')[0]).sort()).toEqual(tables.map((t) => t.table).sort());

    // The generator's policies on a scratch table, compared with each service table's (whose
    // permission_* policies, the service's permission table of migration 0014, come on top).
    const policiesOf = async (table: string) =>
      (
        await owner.query(
          `select policyname, permissive, roles::text[] as roles, cmd, regexp_replace(qual, '^\\(' || $2 || ' = ', '(COLUMN = ') as qual, regexp_replace(with_check, '^\\(' || $2 || ' = ', '(COLUMN = ') as with_check
           from pg_policies where schemaname = 'public' and tablename = $1 and policyname not like 'permission\\_%' order by policyname`,
          [table, table === 'tenants' ? 'id' : 'tenant_id'],
        )
      ).rows;
    await owner.query('create table shape_probe (tenant_id uuid not null, id uuid not null, created_at timestamptz not null default now(), primary key (tenant_id, id))');
    await owner.query(tenantTableSql({ table: 'shape_probe', appRole: TEST_ROLES.app, systemRole: TEST_ROLES.system }));
    try {
      const generated = await policiesOf('shape_probe');
      expect(generated.map((p) => [p.policyname, p.permissive, p.roles])).toEqual([
        ['system_access', 'PERMISSIVE', [TEST_ROLES.system]],
        ['tenant_isolation', 'PERMISSIVE', ['public']],
        ['tenant_isolation_required', 'RESTRICTIVE', [TEST_ROLES.app]],
      ]);
      for (const { table } of tables) expect({ table, policies: await policiesOf(table) }).toEqual({ table, policies: generated });
    } finally {
      await owner.query('drop table shape_probe');
    }
  });

  it('leaves every tenant table in the catalog enabled and forced', async () => {
    const { rows } = await owner.query(`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r'`);
    for (const { table } of await discoverTenantTables(owner)) {
      expect(rows.find((r) => r.table === table)).toEqual({ table, enabled: true, forced: true });
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
