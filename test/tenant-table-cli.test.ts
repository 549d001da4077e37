import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { CLI } from './helpers/cli.js';

// `rowguard tenant-table` output applied, as the owner, to tables of several shapes, then
// checked as the app role: nothing without a context, the context's tenant by default on
// insert, and only that tenant's rows.

let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase();
  owner = await db.ownerClient();
  app = await db.appClient();
});
afterAll(() => db.close());

const cleanEnv = () => {
  const env = { ...process.env };
  for (const name of ['ROWGUARD_APP_ROLE', 'ROWGUARD_SYSTEM_ROLE', 'ROWGUARD_DB_APP_URL', 'ROWGUARD_DATABASE_URL']) delete env[name];
  return env;
};

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [...CLI, 'tenant-table', ...args], { encoding: 'utf8', env: { ...cleanEnv(), ...env } });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout;
}

const roles = ['--app-role', TEST_ROLES.app, '--system-role', TEST_ROLES.system];

const hasPsql = spawnSync('psql', ['--version'], { encoding: 'utf8' }).status === 0;

/** Applies a script as the owner, the way a person would: psql -f, without ON_ERROR_STOP. */
async function apply(sql: string): Promise<{ ok: boolean; errors: string }> {
  if (hasPsql) {
    const run = spawnSync('psql', ['-X', '-q', '-d', db.ownerUrl, '-f', '-'], { input: sql, encoding: 'utf8' });
    const errors = run.stderr.split('\n').filter((line) => /ERROR|FATAL/.test(line)).join('\n');
    return { ok: run.status === 0 && errors === '', errors };
  }
  try {
    await owner.query(sql);
    return { ok: true, errors: '' };
  } catch (error) {
    await owner.query('rollback');
    return { ok: false, errors: `ERROR: ${(error as Error).message}` };
  }
}

async function asTenant<T>(tenant: string | undefined, work: () => Promise<T>): Promise<T> {
  await app.query('begin');
  try {
    if (tenant) await app.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
    return await work();
  } finally {
    await app.query('rollback');
  }
}

/** Inserts as two tenants, with the tenant column left to its default, and checks what each one sees. */
async function expectIsolated(table: string, insert: string, tenantColumn = 'tenant_id') {
  const [a, b] = [randomUUID(), randomUUID()];
  for (const tenant of [a, b]) {
    await app.query('begin');
    await app.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
    await app.query(insert);
    await app.query('commit');
  }
  expect(await asTenant(undefined, async () => (await app.query(`select count(*)::int as n from ${table}`)).rows[0].n)).toBe(0);
  await expect(asTenant(undefined, () => app.query(insert))).rejects.toMatchObject({ code: expect.stringMatching(/^(42501|23502)$/) });
  for (const tenant of [a, b]) {
    const rows = await asTenant(tenant, async () => (await app.query(`select ${tenantColumn}::text as t from ${table}`)).rows);
    expect(rows).toEqual([{ t: tenant }]);
  }
  // A write naming another tenant is rejected.
  const other = await asTenant(a, () => app.query(`update ${table} set ${tenantColumn} = $1`, [b]).then(() => 'ok', (e: { code: string }) => e.code));
  expect(other).toBe('42501');
}

async function rlsState(schema: string, table: string) {
  const { rows } = await owner.query(
    `select c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
            (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies,
            exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped) as has_tenant_column
     from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`,
    [schema, table],
  );
  return rows[0];
}

const indexesOf = async (schema: string, table: string) =>
  (await owner.query(`select indexdef from pg_indexes where schemaname = $1 and tablename = $2 and indexname not like '%_pkey' order by indexname`, [schema, table])).rows.map((r) => r.indexdef as string);

describe('rowguard tenant-table', () => {
  it('prints one transaction with concrete role names, no psql variables, and says which roles it grants to', () => {
    const sql = cli(['plain_items']);
    expect(sql).not.toMatch(/:["']/);
    const statements = sql.split('\n').filter((line) => line.trim() && !line.startsWith('--'));
    expect(statements[0]).toBe('begin;');
    expect(statements.at(-1)).toBe('commit;');
    const header = sql.slice(0, sql.indexOf('begin;'));
    expect(header).toContain('"rowguard_app"');
    expect(header).toContain('"rowguard_system"');
    expect(sql).toContain('grant select, insert, update, delete on "plain_items" to "rowguard_app";');
    expect(sql).toContain('to "rowguard_system"');
    // The environment names the roles when no flag does (as every other command reads them).
    const fromEnv = cli(['plain_items'], { ROWGUARD_APP_ROLE: 'crm_app', ROWGUARD_SYSTEM_ROLE: 'crm_system' });
    expect(fromEnv).toContain('grant select, insert, update, delete on "plain_items" to "crm_app";');
    expect(fromEnv).toContain('create policy system_access on "plain_items" to "crm_system"');
    const fromFlag = cli(['plain_items', '--app-role', 'other_app'], { ROWGUARD_APP_ROLE: 'crm_app' });
    expect(fromFlag).toContain('to "other_app";');
    expect(fromFlag).not.toContain('crm_app');
  });

  it('works on a table without created_at or id', async () => {
    await owner.query(`create table plain_items (tenant_id uuid not null, name text not null default 'x')`);
    const result = await apply(cli(['plain_items', ...roles]));
    expect(result).toEqual({ ok: true, errors: '' });
    expect(await rlsState('public', 'plain_items')).toMatchObject({ enabled: true, forced: true, policies: 3 });
    expect(await indexesOf('public', 'plain_items')).toEqual([expect.stringMatching(/ON public\.plain_items USING btree \(tenant_id\)$/)]);
    await expectIsolated('plain_items', `insert into plain_items (name) values ('a')`);
  });

  it('works on a table with a composite key, with the index columns from --index', async () => {
    await owner.query(`create table line_items (tenant_id uuid not null, invoice_no int not null, line int not null, amount numeric not null default 0, primary key (tenant_id, invoice_no, line))`);
    const result = await apply(cli(['line_items', '--index', 'invoice_no desc, line', ...roles]));
    expect(result).toEqual({ ok: true, errors: '' });
    expect(await indexesOf('public', 'line_items')).toEqual([expect.stringMatching(/USING btree \(tenant_id, invoice_no DESC, line\)$/)]);
    await expectIsolated('line_items', `insert into line_items (invoice_no, line) values (1, 1)`);
    // --index none: the primary key already leads with the tenant column.
    expect(cli(['line_items', '--index', 'none', ...roles])).not.toContain('create index');
  });

  it('adds the tenant column to a table without one and without rows', async () => {
    await owner.query(`create table bare_empty (name text not null)`);
    const result = await apply(cli(['bare_empty', ...roles]));
    expect(result).toEqual({ ok: true, errors: '' });
    const { rows } = await owner.query(
      `select format_type(atttypid, atttypmod) as type, attnotnull as not_null, pg_get_expr(d.adbin, d.adrelid) as default
       from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
       where a.attrelid = 'bare_empty'::regclass and a.attname = 'tenant_id'`,
    );
    expect(rows).toEqual([{ type: 'uuid', not_null: true, default: expect.stringContaining(`current_setting('app.tenant_id'::text, true)`) }]);
    await expectIsolated('bare_empty', `insert into bare_empty (name) values ('a')`);
  });

  it('refuses a table without a tenant column that has rows, applying nothing, until the rows are backfilled', async () => {
    await owner.query(`create table bare_full (name text not null)`);
    await owner.query(`insert into bare_full values ('legacy')`);
    const grantsOf = async () =>
      (await owner.query(`select grantee, privilege_type from information_schema.role_table_grants where table_name = 'bare_full' order by 1, 2`)).rows;
    const grantsBefore = await grantsOf();
    // The migrating session carries a tenant context: existing rows must not silently become that tenant's.
    const sql = cli(['bare_full', ...roles]);
    const result = await apply(`select set_config('app.tenant_id', '${randomUUID()}', false);\n${sql}`);
    expect(result.ok).toBe(false);
    expect(result.errors).toMatch(/bare_full.*rows without a tenant/);
    expect(await rlsState('public', 'bare_full')).toEqual({ enabled: false, forced: false, policies: 0, has_tenant_column: false });
    expect(await indexesOf('public', 'bare_full')).toEqual([]);
    expect(await grantsOf()).toEqual(grantsBefore);

    // The documented way through: add the column, backfill it, run the same script again.
    const tenant = randomUUID();
    await owner.query(`alter table bare_full add column tenant_id uuid`);
    await owner.query(`update bare_full set tenant_id = $1`, [tenant]);
    expect(await apply(sql)).toEqual({ ok: true, errors: '' });
    expect(await asTenant(tenant, async () => (await app.query(`select name from bare_full`)).rows)).toEqual([{ name: 'legacy' }]);
    await expectIsolated('bare_full', `insert into bare_full (name) values ('a')`);
  });

  it('works on a schema-qualified table', async () => {
    await owner.query(`create schema crm`);
    await owner.query(`create table crm.contacts (tenant_id uuid not null, email text not null default 'a@example.com')`);
    const sql = cli(['crm.contacts', ...roles]);
    expect(sql).toContain(`grant usage on schema "crm" to "${TEST_ROLES.app}"`);
    expect(await apply(sql)).toEqual({ ok: true, errors: '' });
    expect(await rlsState('crm', 'contacts')).toMatchObject({ enabled: true, forced: true, policies: 3 });
    expect(await indexesOf('crm', 'contacts')).toEqual([expect.stringMatching(/ON crm\.contacts USING btree \(tenant_id\)$/)]);
    await expectIsolated('crm.contacts', `insert into crm.contacts default values`);
  });

  it('works on a quoted mixed-case table name', async () => {
    await owner.query(`create table "CustomerNotes" ("Body" text not null default '')`);
    expect(await apply(cli(['CustomerNotes', ...roles]))).toEqual({ ok: true, errors: '' });
    expect(await rlsState('public', 'CustomerNotes')).toMatchObject({ enabled: true, forced: true, policies: 3, has_tenant_column: true });
    await expectIsolated('"CustomerNotes"', `insert into "CustomerNotes" default values`);
  });
});
