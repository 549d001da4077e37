import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../../packages/audit/src/probe/run-probe.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { seedTenant } from '../helpers/fixtures.js';
import { CLI } from '../helpers/cli.js';

let db: TestDatabase;
let admin: pg.Client;
let app: pg.Client;

/** A fingerprint of every row of every table in the audited schemas. */
async function contents(): Promise<Record<string, string>> {
  const { rows: tables } = await admin.query<{ t: string }>(
    `select format('%I.%I', n.nspname, c.relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname in ('public', 'leaky') order by 1`,
  );
  const out: Record<string, string> = {};
  for (const { t } of tables) out[t] = (await admin.query(`select coalesce(md5(string_agg(x::text, '|' order by x::text)), '') as h from ${t} x`)).rows[0].h;
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: db.superuserUrl });
  await admin.connect();
  app = await db.appClient();
  const owner = await db.ownerClient();
  await seedTenant(owner, app, TEST_ROLES.system);
  await seedTenant(owner, app, TEST_ROLES.system);
});
afterAll(async () => {
  await admin.end();
  await db.close();
});

describe('rowguard probe', () => {
  it("passes on Rowguard's own schema and leaves every table exactly as it was", async () => {
    const before = await contents();
    const progress: string[] = [];
    const report = await runProbe(admin, app, { schemas: ['public'], onProgress: (object) => progress.push(object) });
    expect(report.results.filter((r) => r.status === 'fail')).toEqual([]);
    const passed = report.results.filter((r) => r.status === 'pass').map((r) => r.object);
    expect(passed).toEqual(expect.arrayContaining(['public.projects', 'public.tasks', 'public.invoices', 'public.project_summaries', 'SET ROLE to other roles']));
    expect(progress.length).toBeGreaterThan(10);
    expect(await contents()).toEqual(before);
  });

  it('reports objects without rows of two tenants as not probed, with the reason', async () => {
    const report = await runProbe(admin, app, { schemas: ['public'] });
    const skipped = report.results.filter((r) => r.status === 'not-probed');
    for (const r of skipped) expect(r.reason).toMatch(/two tenants/);
  });

  describe('when too little holds two tenants’ rows', () => {
    const probe = (...args: string[]) =>
      spawnSync(process.execPath, [...CLI, 'probe', db.superuserUrl, '--app-url', db.appUrl, ...args], { encoding: 'utf8' });
    beforeAll(async () => {
      await admin.query(`
        create schema sparse;
        grant usage on schema sparse to ${TEST_ROLES.app};
        create table sparse.notes (tenant_id uuid not null, id serial, primary key (tenant_id, id));
        alter table sparse.notes enable row level security; alter table sparse.notes force row level security;
        create policy tenant on sparse.notes using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
        grant select on sparse.notes to ${TEST_ROLES.app};`);
    });
    afterAll(async () => {
      await admin.query('drop schema sparse cascade');
    });

    it('exits 2 when no table or view could be probed, not 0', () => {
      const run = probe('--schema', 'sparse');
      expect(run.stdout).toMatch(/^SKIP {2}sparse\.notes {2}\(not probed: needs rows of two tenants/m);
      expect(run.stderr).toMatch(/^rowguard: nothing was probed: no table or view holds rows of two tenants .*\[PROBE_INCOMPLETE\]$/m);
      expect(run.status).toBe(2);
    });

    it('exits 2 when fewer objects than --expect-probed were probed, and 0 when enough were', () => {
      const short = probe('--schema', 'public', '--expect-probed', '500');
      expect(short.stderr).toMatch(/^rowguard: \d+ tables and views probed, expected at least 500 .*\[PROBE_INCOMPLETE\]$/m);
      expect(short.status).toBe(2);
      expect(probe('--schema', 'public', '--expect-probed', '5').status).toBe(0);
      const bad = probe('--schema', 'public', '--expect-probed', 'many');
      expect(bad.stderr).toMatch(/^rowguard: --expect-probed must be a whole number, not "many" \[CONFIG_INVALID\]$/m);
      expect(bad.status).toBe(2);
    });
  });

  describe('on a leaky database', () => {
    beforeAll(async () => {
      await admin.query(`
        create schema leaky;
        grant usage on schema leaky to ${TEST_ROLES.app};
        -- the seeds' near-leak: a view that reads as a superuser owner
        create view leaky.all_projects as select tenant_id, id, name from public.projects;
        grant select on leaky.all_projects to ${TEST_ROLES.app};
        -- a table without FORCE, reached through its owner
        create table leaky.notes (tenant_id uuid not null, id serial, body text, primary key (tenant_id, id));
        alter table leaky.notes enable row level security;
        create policy tenant on leaky.notes using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
        insert into leaky.notes (tenant_id, body) select id, 'secret of ' || name from public.tenants;
        alter table leaky.notes owner to ${TEST_ROLES.app};`);
    });
    afterAll(async () => {
      await admin.query('drop schema leaky cascade');
    });

    it('fails, naming what leaked, and still changes nothing', async () => {
      const before = await contents();
      const report = await runProbe(admin, app, { schemas: ['leaky'] });
      const failed = Object.fromEntries(report.results.filter((r) => r.status === 'fail').map((r) => [r.object, r.failures]));
      if (process.env.ROWGUARD_TEST_ON_CITUS === '1') {
        // On Citus the view does not leak: its reads of the distributed table run on the workers
        // over connections of the querying role (Citus connects as the current user), where
        // row-level security applies; the owner's bypass stays on the coordinator.
        expect(Object.keys(failed)).toEqual(['leaky.notes']);
        expect(report.results.find((r) => r.object === 'leaky.all_projects')?.status).toBe('pass');
      } else {
        expect(Object.keys(failed).sort()).toEqual(['leaky.all_projects', 'leaky.notes']);
        expect(failed['leaky.all_projects']).toContainEqual(expect.stringMatching(/without a tenant context \d+ rows are visible/));
      }
      expect(failed['leaky.notes']).toContainEqual(expect.stringMatching(/rows of other tenants are visible/));
      expect(await contents()).toEqual(before);
    });

    it('exits 1 from the command line, with PASS/FAIL per object', () => {
      const run = (schema: string) =>
        spawnSync(process.execPath, [...CLI, 'probe', db.superuserUrl, '--app-url', db.appUrl, '--schema', schema], { encoding: 'utf8' });
      const leaky = run('leaky');
      expect(leaky.status).toBe(1);
      expect(leaky.stdout).toMatch(/^FAIL {2}leaky\.notes$/m);
      expect(leaky.stdout).toMatch(/TENANT DATA LEAKS/);
      expect(leaky.stderr).toMatch(/probing 1\/2/);
      const clean = run('public');
      expect(clean.status).toBe(0);
      expect(clean.stdout).toMatch(/0 failed/);
    });
  });

  describe('on a table where inserting a foreign row fails for another reason', () => {
    beforeAll(async () => {
      // The insert policy lets any row in; only a CHECK constraint (NOT VALID: the existing rows
      // break it) stops the copied row. A policy would not have rejected it.
      await admin.query(`
        create schema shaky;
        grant usage on schema shaky to ${TEST_ROLES.app};
        create table shaky.notes (tenant_id uuid not null, id serial primary key, body text);
        alter table shaky.notes enable row level security; alter table shaky.notes force row level security;
        create policy read on shaky.notes for select using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
        create policy write on shaky.notes for insert with check (true);
        create policy change on shaky.notes for update using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
          with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
        create policy remove on shaky.notes for delete using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
        insert into shaky.notes (tenant_id, body) select id, 'note of ' || name from public.tenants;
        alter table shaky.notes add constraint no_body check (body is null) not valid;
        grant select, insert, update, delete on shaky.notes to ${TEST_ROLES.app};`);
    });
    afterAll(async () => {
      await admin.query('drop schema shaky cascade');
    });

    it('reports the insert check as not conclusive, not as passed', async () => {
      const report = await runProbe(admin, app, { schemas: ['shaky'] });
      const notes = report.results.find((r) => r.object === 'shaky.notes')!;
      expect(notes.status).toBe('fail');
      expect(notes.failures).toEqual([expect.stringMatching(/^inserting a row of tenant \S+ as tenant \S+ failed with 23514, not a policy rejection \(42501\)$/)]);
    });
  });
});
