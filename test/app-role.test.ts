import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { asTenant, seedTenant, type TenantSeed } from './helpers/fixtures.js';

let db: TestDatabase;
let app: pg.Client;
let a: TenantSeed;
let b: TenantSeed;

async function codeOf(sql: string, values?: unknown[]): Promise<string | null> {
  try {
    await app.query(sql, values);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no-code';
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = await db.appClient();
  const owner = await db.ownerClient();
  a = await seedTenant(owner, app, TEST_ROLES.system);
  b = await seedTenant(owner, app, TEST_ROLES.system);
});
afterAll(() => db.close());

describe('the app role cannot escape row-level security', () => {
  it('has none of the attributes that bypass it', async () => {
    const { rows } = await app.query('select rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolinherit from pg_roles where rolname = current_user');
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, rolcreatedb: false, rolcreaterole: false, rolinherit: false });
  });

  it.each([TEST_ROLES.owner, TEST_ROLES.system, 'postgres'])('cannot SET ROLE to %s', async (role) => {
    expect(await codeOf(`set role ${role}`)).toBe('42501');
    expect(await codeOf(`set session authorization ${role}`)).toBe('42501');
  });

  it('cannot TRUNCATE, disable or alter RLS, or drop a policy', async () => {
    expect(await codeOf('truncate projects')).toBe('42501');
    expect(await codeOf('alter table projects disable row level security')).toBe('42501');
    expect(await codeOf('alter table projects no force row level security')).toBe('42501');
    expect(await codeOf('drop policy tenant_isolation on projects')).toBe('42501');
    expect(await codeOf('create policy open on projects using (true)')).toBe('42501');
  });

  it('cannot create objects, not even temporary tables that would shadow tenant tables', async () => {
    expect(await codeOf('create table mine (x int)')).toBe('42501');
    expect(await codeOf('create temporary table projects (x int)')).toBe('42501');
    expect(await codeOf('create view mine as select 1')).toBe('42501');
    expect(await codeOf('create function mine() returns int language sql as $$ select 1 $$')).toBe('42501');
    expect(await codeOf('create schema mine')).toBe('42501');
  });

  it('holds no TRUNCATE, REFERENCES or TRIGGER privilege on any table, nor CREATE on a schema', async () => {
    const { rows } = await app.query(`
      select c.relname, p.privilege
      from pg_class c join pg_namespace n on n.oid = c.relnamespace,
           unnest(array['TRUNCATE', 'REFERENCES', 'TRIGGER']) p(privilege)
      where n.nspname = 'public' and c.relkind in ('r', 'p', 'v')
        and has_table_privilege(current_user, c.oid, p.privilege)`);
    expect(rows).toEqual([]);
    const schemas = await app.query(`select nspname from pg_namespace where has_schema_privilege(current_user, oid, 'CREATE')`);
    expect(schemas.rows).toEqual([]);
  });

  it('no setting it can set widens what it sees', async () => {
    const attempts = [
      "set app.tenant_id = ''",
      "set app.bypass_rls = 'on'",
      "set app.is_admin = 'true'",
      "set app.tenant_id = '00000000-0000-0000-0000-000000000000'",
      'set row_security = off',
      "set search_path = pg_temp, public",
    ];
    for (const setting of attempts) {
      await app.query('begin');
      try {
        await app.query(setting.replace(/^set /, 'set local '));
        const code = await codeOf('select count(*) from projects');
        // Either nothing is visible, or (row_security = off) the query is refused outright.
        if (code === null) {
          const { rows } = await app.query('select count(*)::int as n from projects');
          expect({ setting, n: rows[0].n }).toEqual({ setting, n: 0 });
        } else {
          expect({ setting, code }).toEqual({ setting, code: '42501' });
        }
      } finally {
        await app.query('rollback');
      }
    }
    expect(await codeOf("set session_replication_role = replica")).toBe('42501');
  });

  it('a malformed tenant setting is an error, never a wider view', async () => {
    await app.query('begin');
    try {
      await app.query("set local app.tenant_id = 'not-a-uuid'");
      expect(await codeOf('select * from projects')).toBe('22P02');
    } finally {
      await app.query('rollback');
    }
  });

  it('sees the other tenant’s row through neither a filter nor a join', async () => {
    const rows = await asTenant(app, a, async () =>
      (
        await app.query(
          `select p.id from projects p where p.id = $1
           union all select t.id from tasks t join projects p on p.tenant_id = t.tenant_id and p.id = t.project_id where p.id = $1`,
          [b.ids.projects],
        )
      ).rows,
    );
    expect(rows).toEqual([]);
  });

  it('learns nothing about another tenant from a unique constraint', async () => {
    // Tenant B's member email is free to use for tenant A: uniqueness is per tenant, so an
    // insert cannot tell A whether B has that email.
    const email = `shared-${randomUUID().slice(0, 6)}@example.test`;
    for (const seed of [b, a]) {
      await asTenant(
        app,
        seed,
        () => app.query("insert into team_members (tenant_id, user_id, email, role) values ($1, $2, $3, 'viewer')", [seed.tenantId, `u-${email}`, email]),
        { commit: true },
      );
    }
  });
});
