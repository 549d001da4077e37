import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../packages/audit/src/audit/catalog.js';
import { serverVersion } from '../../packages/audit/src/audit/lints/server-version.js';
import { fixSql, runAudit } from '../../packages/audit/src/audit/run-audit.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let admin: pg.Client;
const app = `rg_audit_app_${randomBytes(3).toString('hex')}`;

const PREDICATE = `tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid`;
/** A correct tenant table named t in schema {s}, readable and writable by the app role. */
const GOOD = `
  create table {s}.t (tenant_id uuid not null, id uuid not null default gen_random_uuid(), email text, owner_name text, primary key (tenant_id, id));
  alter table {s}.t enable row level security; alter table {s}.t force row level security;
  create policy tenant on {s}.t using (${PREDICATE}) with check (${PREDICATE});
  create policy tenant_required on {s}.t as restrictive to {app} using (${PREDICATE}) with check (${PREDICATE});
  grant usage on schema {s} to {app}; grant select, insert, update, delete on {s}.t to {app};`;

interface Case {
  lint: string;
  /** SQL after GOOD that makes the lint fire. */
  setup: string;
  /** SQL that fixes it; omitted: apply the fix the finding carries. */
  fixed?: string;
}

const CASES: Record<string, Case> = {
  'table without RLS': { lint: 'rls-disabled', setup: 'alter table {s}.t disable row level security;' },
  'RLS not forced': { lint: 'rls-not-forced', setup: 'alter table {s}.t no force row level security;' },
  'RLS without a policy': { lint: 'rls-without-policy', setup: 'drop policy tenant on {s}.t; drop policy tenant_required on {s}.t;' },
  'an always-true policy': { lint: 'policy-not-pinned', setup: 'drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy open on {s}.t using (true) with check (true);' },
  'a policy without the tenant column': { lint: 'policy-not-pinned', setup: "drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (email like '%@%');" },
  'an IS NULL OR policy': {
    lint: 'policy-not-pinned',
    setup: "drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (current_setting('app.tenant_id', true) is null or tenant_id = current_setting('app.tenant_id', true)::uuid);",
  },
  'a bypass setting': {
    lint: 'policy-not-pinned',
    setup: `drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (current_setting('app.bypass_rls', true) = 'on' or ${PREDICATE});`,
  },
  'a tenant column compared with a constant': {
    lint: 'policy-not-pinned',
    setup: "drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (tenant_id = '00000000-0000-4000-8000-000000000001'::uuid);",
  },
  'a NULL-tolerant comparison with the tenant': {
    lint: 'policy-not-pinned',
    setup: "drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (tenant_id is not distinct from nullif(current_setting('app.tenant_id', true), '')::uuid);",
  },
  'a pattern match on the tenant': {
    lint: 'policy-not-pinned',
    setup: "drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (tenant_id::text like current_setting('app.tenant_id', true));",
  },
  'a lookup that does not depend on the caller': {
    lint: 'policy-not-pinned',
    setup: 'drop policy tenant on {s}.t; drop policy tenant_required on {s}.t; create policy p on {s}.t using (tenant_id in (select tenant_id from {s}.t where email is not null));',
  },
  'a restrictive policy that only requires some tenant, over an open one': {
    lint: 'policy-not-pinned',
    setup: `drop policy tenant_required on {s}.t; alter policy tenant on {s}.t using (true) with check (true);
            create policy floor on {s}.t as restrictive to {app} using (tenant_id is not null) with check (tenant_id is not null);`,
  },
  'a setting read without missing_ok': {
    lint: 'setting-not-guarded',
    setup: "drop policy tenant on {s}.t; create policy p on {s}.t using (tenant_id = current_setting('app.tenant_id')::uuid) with check (tenant_id = current_setting('app.tenant_id')::uuid);",
  },
  'a setting read without the empty-string guard': {
    lint: 'setting-not-guarded',
    setup: "drop policy tenant on {s}.t; create policy p on {s}.t using (tenant_id = current_setting('app.tenant_id', true)::uuid);",
  },
  'a policy on current_user': { lint: 'policy-uses-current-user', setup: `create policy mine on {s}.t as restrictive using (owner_name = current_user);` },
  'an app role that owns a table': { lint: 'app-role-bypasses', setup: 'alter table {s}.t owner to {app};', fixed: 'alter table {s}.t owner to current_user;' },
  'an app role with BYPASSRLS': { lint: 'app-role-bypasses', setup: 'alter role {app} bypassrls;', fixed: 'alter role {app} nobypassrls;' },
  'TRUNCATE for the app role': { lint: 'app-role-excess-privileges', setup: 'grant truncate, references on {s}.t to {app};' },
  'CREATE on a schema for the app role': { lint: 'app-role-excess-privileges', setup: 'grant create on schema {s} to {app};' },
  'a view reading as a superuser owner': { lint: 'view-runs-as-owner', setup: 'create view {s}.v as select * from {s}.t; grant select on {s}.v to {app};' },
  'a readable materialized view': { lint: 'unprotected-relation', setup: 'create materialized view {s}.m as select * from {s}.t; grant select on {s}.m to {app};' },
  'a readable foreign table': {
    lint: 'unprotected-relation',
    setup: `create extension if not exists file_fdw; create server files_{s} foreign data wrapper file_fdw;
            create foreign table {s}.imported (tenant_id uuid, note text) server files_{s} options (filename '/dev/null');
            grant select on {s}.imported to {app};`,
  },
  'a partition without its own policy': {
    lint: 'partition-without-policy',
    setup: `create table {s}.p (tenant_id uuid not null, id uuid not null, primary key (tenant_id, id)) partition by hash (tenant_id);
            alter table {s}.p enable row level security; alter table {s}.p force row level security;
            create policy tenant on {s}.p using (${PREDICATE});
            create table {s}.p0 partition of {s}.p for values with (modulus 1, remainder 0);
            grant select on {s}.p, {s}.p0 to {app};`,
  },
  'a foreign key without the tenant column': {
    lint: 'foreign-key-without-tenant',
    setup: `alter table {s}.t add constraint t_id_key unique (id);
            create table {s}.child (tenant_id uuid not null, id uuid primary key, t_id uuid references {s}.t (id));`,
    fixed: `alter table {s}.child drop constraint child_t_id_fkey, add foreign key (tenant_id, t_id) references {s}.t (tenant_id, id);`,
  },
  'a unique constraint without the tenant column': { lint: 'unique-without-tenant', setup: 'alter table {s}.t add constraint t_email_key unique (email);' },
  'a SECURITY DEFINER function without search_path': {
    lint: 'security-definer-function',
    setup: 'create function {s}.peek() returns bigint language sql security definer as $$ select count(*) from {s}.t $$; grant execute on function {s}.peek() to {app};',
    fixed: "alter function {s}.peek() set search_path = pg_catalog, pg_temp; comment on function {s}.peek() is 'rowguard:reviewed counts only';",
  },
  'a SECURITY DEFINER function whose search_path temp tables can shadow': {
    lint: 'function-search-path-shadowable',
    setup: `create function {s}.peek() returns bigint language sql security definer set search_path = {s} as $$ select count(*) from t $$;
            comment on function {s}.peek() is 'rowguard:reviewed counts only'; grant execute on function {s}.peek() to {app};
            do $$ begin execute format('grant temporary on database %I to {app}', current_database()); end $$;`,
  },
  'a policy helper whose search_path temp tables can shadow': {
    lint: 'function-search-path-shadowable',
    setup: `create table {s}.members (tenant_id uuid, user_name text);
            create function {s}.is_member(t uuid) returns boolean language plpgsql stable as $$ begin return exists (select 1 from members where tenant_id = t and user_name = current_setting('app.user', true)); end $$;
            alter policy tenant on {s}.t using (${PREDICATE} and {s}.is_member(tenant_id));
            do $$ begin execute format('grant temporary on database %I to {app}', current_database()); end $$;`,
    fixed: `alter function {s}.is_member(uuid) set search_path = {s}, pg_temp;`,
  },
  'a SECURITY DEFINER trigger on a tenant table': {
    lint: 'security-definer-trigger',
    setup: `alter table {s}.t add column owner_email text;
            create function {s}.fill() returns trigger language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
              begin select email into new.owner_email from {s}.t where id = new.id; return new; end $$;
            revoke execute on function {s}.fill() from public;
            create trigger fill before insert on {s}.t for each row execute function {s}.fill();`,
    fixed: 'alter function {s}.fill() security invoker;',
  },
  'a LEAKPROOF function': { lint: 'leakproof-function', setup: 'create function {s}.eq(a text, b text) returns boolean language sql immutable leakproof as $$ select a = b $$;' },
  'a tenant column without a leading index': {
    lint: 'missing-tenant-index',
    setup: 'create table {s}.u (tenant_id uuid not null, id uuid primary key); alter table {s}.u enable row level security; alter table {s}.u force row level security;' + ` create policy tenant on {s}.u using (${PREDICATE});`,
  },
  'a cast on the tenant column': {
    lint: 'policy-defeats-index',
    setup: "drop policy tenant on {s}.t; create policy p on {s}.t using (tenant_id::text = nullif(current_setting('app.tenant_id', true), ''));",
  },
  'a VOLATILE function in a policy': {
    lint: 'volatile-function-in-policy',
    setup: `create function {s}.tenant() returns uuid language sql volatile as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;
            drop policy tenant on {s}.t; create policy p on {s}.t using (tenant_id = {s}.tenant());`,
  },
  'tenant isolation only in a permissive policy': { lint: 'tenant-not-restricted', setup: 'drop policy tenant_required on {s}.t;' },
  'a restrictive policy that does not pin the tenant': {
    lint: 'tenant-not-restricted',
    setup: "drop policy tenant_required on {s}.t; create policy loose on {s}.t as restrictive to {app} using (email is not null);",
  },
  'a table reading another setting than the others': {
    lint: 'context-source-mismatch',
    setup: `create table {s}.a (tenant_id uuid not null, id uuid not null, primary key (tenant_id, id));
            create table {s}.b (tenant_id uuid not null, id uuid not null, primary key (tenant_id, id));
            alter table {s}.a enable row level security; alter table {s}.b enable row level security;
            create policy tenant on {s}.a using (${PREDICATE}); create policy tenant on {s}.b using (${PREDICATE});
            alter policy tenant on {s}.t using (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)
              with check (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid);
            alter policy tenant_required on {s}.t using (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)
              with check (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid);`,
  },
  'the context compared with another column': {
    lint: 'context-on-other-column',
    setup: `alter table {s}.t add column org_id uuid;
            alter policy tenant on {s}.t using (tenant_id is not null and org_id = nullif(current_setting('app.tenant_id', true), '')::uuid);`,
  },
  'a WITH CHECK reading another tenant than USING': {
    lint: 'check-differs-from-using',
    setup: `alter policy tenant on {s}.t using (${PREDICATE}) with check (tenant_id = nullif(current_setting('app.write_tenant', true), '')::uuid);`,
  },
  'two permissive policies': { lint: 'multiple-permissive-policies', setup: `create policy again on {s}.t using (${PREDICATE});`, fixed: 'drop policy again on {s}.t;' },
  'a shared table': { lint: 'shared-table', setup: 'create table {s}.countries (code text primary key); grant select on {s}.countries to {app};', fixed: 'revoke select on {s}.countries from {app};' },
  'sequence ids on a tenant table': { lint: 'sequence-ids', setup: 'alter table {s}.t add column number bigserial;', fixed: 'alter table {s}.t alter column number drop default;' },
};

let n = 0;
async function schemaWith(sql: string): Promise<string> {
  const schema = `fx_${++n}`;
  await admin.query(`create schema ${schema}`);
  await admin.query((GOOD + sql).replaceAll('{s}', schema).replaceAll('{app}', app));
  return schema;
}
const audit = (schema: string) => runAudit(admin, { appRole: app, schemas: [schema] });

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: db.superuserUrl });
  await admin.connect();
  await admin.query(`create role ${app} login`);
});
afterAll(async () => {
  await admin.query(`drop owned by ${app} cascade; drop role ${app}`).catch(() => undefined);
  await admin.end();
  await db.close();
});

describe('every lint', () => {
  it('is silent on a correct tenant table', async () => {
    const report = await audit(await schemaWith(''));
    expect(report.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it.each(Object.entries(CASES))('fires on %s and is silent once fixed', async (_label, { lint, setup, fixed }) => {
    const schema = await schemaWith(setup);
    const before = (await audit(schema)).findings.filter((f) => f.id === lint);
    expect(before.length).toBeGreaterThan(0);
    for (const f of before) {
      // Each finding names what it is about, in the schema audited (or the app role), and says
      // in a sentence what is wrong there.
      expect(f.object).toMatch(new RegExp(`\\b(${schema}|${app})\\b`));
      expect(f.message).toMatch(/^\S.* .*\.$/s);
    }
    const fix = fixed?.replaceAll('{s}', schema).replaceAll('{app}', app) ?? before.map((f) => f.fix).join('\n');
    expect(fix.trim()).not.toBe('');
    await admin.query(fix);
    expect((await audit(schema)).findings.filter((f) => f.id === lint)).toEqual([]);
  });

  it('warns about server versions below the RLS CVE fixes', () => {
    const catalog = (num: number) => ({ serverVersionNum: num }) as Catalog;
    expect(serverVersion.run(catalog(150003))).toHaveLength(1);
    expect(serverVersion.run(catalog(160004))).toHaveLength(1);
    expect(serverVersion.run(catalog(150009))).toEqual([]);
    expect(serverVersion.run(catalog(170001))).toEqual([]);
    expect(serverVersion.run(catalog(180000))).toEqual([]);
  });
});

describe('the whole audit', () => {
  it('finds several pitfalls at once, and --fix-sql is a migration after which no error is left', async () => {
    const schema = await schemaWith(
      [CASES['RLS not forced']!, CASES['a bypass setting']!, CASES['TRUNCATE for the app role']!, CASES['a view reading as a superuser owner']!, CASES['a unique constraint without the tenant column']!]
        .map((c) => c.setup)
        .join('\n'),
    );
    const report = await audit(schema);
    expect(new Set(report.findings.map((f) => f.id))).toEqual(
      new Set(['rls-not-forced', 'policy-not-pinned', 'tenant-not-restricted', 'setting-not-guarded', 'app-role-excess-privileges', 'view-runs-as-owner', 'unique-without-tenant']),
    );
    await admin.query(fixSql(report));
    const after = await audit(schema);
    expect(after.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it("finds nothing to fix in Rowguard's own schema", async () => {
    const { TEST_ROLES } = await import('../helpers/cluster.js');
    const report = await runAudit(admin, { appRole: TEST_ROLES.app, schemas: ['public', 'rowguard'] });
    expect(report.findings.filter((f) => f.severity !== 'info' && f.id !== 'server-version')).toEqual([]);
    expect(report.tenantTables).toBeGreaterThanOrEqual(13);
  });

  it('--fix-sql writes each statement once, even when several findings carry it', async () => {
    const schema = await schemaWith(CASES['an always-true policy']!.setup + CASES['RLS not forced']!.setup);
    const report = await audit(schema);
    expect(report.findings.filter((f) => f.id === 'policy-not-pinned')).toHaveLength(2); // USING and WITH CHECK
    const statements = fixSql(report).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--'));
    expect(new Set(statements).size).toBe(statements.length);
    await admin.query(fixSql(report));
    expect((await audit(schema)).findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('never proposes to rewrite a policy scoped to another role, whether the app role is known or not', async () => {
    const { TEST_ROLES } = await import('../helpers/cluster.js');
    const system = TEST_ROLES.system;
    const schema = await schemaWith(
      `create function {s}.mode() returns text language sql volatile as $$ select current_setting('app.mode') $$;
       create policy system_access on {s}.t to ${system}
         using (current_user = '${system}' and tenant_id::text <> '' and {s}.mode() = current_setting('app.mode'))
         with check (current_user = '${system}');`,
    );
    const known = await audit(schema);
    // The warnings stand (they slow or break the system role's reads), but no fix touches the policy.
    expect(known.findings.filter((f) => f.object.endsWith('policy system_access')).map((f) => f.id)).toEqual(
      expect.arrayContaining(['policy-defeats-index', 'setting-not-guarded', 'volatile-function-in-policy']),
    );
    // No statement names the policy (the comment line saying which finding a fix is for may).
    expect(fixSql(known)).not.toMatch(/^(?!--).*system_access/m);
    await admin.query(`revoke all on ${schema}.t from ${app}`);
    const unknown = await runAudit(admin, { schemas: [schema] });
    expect(unknown.appRole).toBeNull();
    expect(fixSql(unknown)).not.toMatch(/^(?!--).*system_access/m);
  });

  it('keeps the findings of a policy marked rowguard:reviewed as notes with the reason, without a fix', async () => {
    const schema = await schemaWith(`create policy own_rows on {s}.t for select using (owner_name = current_setting('app.user', true));`);
    const before = (await audit(schema)).findings.filter((f) => f.object.endsWith('policy own_rows'));
    expect(before.map((f) => [f.id, f.severity])).toContainEqual(['context-on-other-column', 'error']);
    await admin.query(`comment on policy own_rows on ${schema}.t is 'rowguard:reviewed a user reads their own rows in every tenant'`);
    const after = await audit(schema);
    const reviewed = after.findings.filter((f) => f.object.endsWith('policy own_rows'));
    expect(reviewed.map((f) => f.id).sort()).toEqual(before.map((f) => f.id).sort());
    for (const f of reviewed) {
      expect(f.severity).toBe('info');
      expect(f.message).toMatch(/^Reviewed \(a user reads their own rows in every tenant\): /);
      expect(f.fix).toBeUndefined();
    }
    expect(after.summary.error).toBe(0);
  });

  it('never writes: it runs in a read-only transaction', async () => {
    await admin.query('begin read only');
    try {
      await runAudit(admin, { appRole: app });
    } finally {
      await admin.query('rollback');
    }
  });
});
