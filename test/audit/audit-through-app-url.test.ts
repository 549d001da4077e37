import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixSql, runAudit, type AuditReport } from '../../packages/audit/src/audit/run-audit.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let owner: pg.Client;
let app: pg.Client;
let superuser: pg.Client;

const SCHEMAS = ['public', 'rowguard'];

/** What an audit found: ids and objects, order aside. */
const found = (report: AuditReport) => report.findings.map((f) => `${f.id} ${f.object}`).sort();

beforeAll(async () => {
  db = await createTestDatabase();
  owner = await db.ownerClient();
  app = await db.appClient();
  superuser = await db.superuserClient();
});
afterAll(async () => {
  await db.close();
});

describe('an audit through the app role URL', () => {
  it('identifies the app role as the connecting role, and the owner URL finds it too', async () => {
    const throughApp = await runAudit(app, { schemas: SCHEMAS });
    const throughOwner = await runAudit(owner, { schemas: SCHEMAS });
    expect(throughApp.appRole).toBe(TEST_ROLES.app);
    expect(throughOwner.appRole).toBe(TEST_ROLES.app);
    expect((await runAudit(superuser, { schemas: SCHEMAS })).appRole).toBe(TEST_ROLES.app);
  });

  it("reports the same findings as through the owner URL on Rowguard's own schema, and nothing to fix", async () => {
    const throughApp = await runAudit(app, { schemas: SCHEMAS });
    const throughOwner = await runAudit(owner, { schemas: SCHEMAS });
    expect(found(throughApp)).toEqual(found(throughOwner));
    expect(found(await runAudit(superuser, { schemas: SCHEMAS }))).toEqual(found(throughOwner));
    expect(throughApp.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(throughApp.findings.filter((f) => f.object.includes('system_access'))).toEqual([]);
    expect(fixSql(throughApp)).not.toMatch(/system_access/);
  });

  it('reports the same findings through both URLs on a schema with pitfalls, and --fix-sql repeats nothing and leaves other roles alone', async () => {
    const s = 'pitfalls';
    await owner.query(
      `create schema ${s};
       grant usage on schema ${s} to ${TEST_ROLES.app};
       create table ${s}.t (tenant_id uuid not null, id uuid not null default gen_random_uuid(), email text, primary key (tenant_id, id));
       alter table ${s}.t enable row level security;
       create policy open on ${s}.t using (true) with check (true);
       create policy system_access on ${s}.t to ${TEST_ROLES.system} using (current_user = '${TEST_ROLES.system}') with check (current_user = '${TEST_ROLES.system}');
       create table ${s}.u (tenant_id uuid not null, id uuid not null, primary key (tenant_id, id));
       alter table ${s}.u enable row level security; alter table ${s}.u force row level security;
       create policy tenant on ${s}.u using (tenant_id::text = current_setting('app.tenant_id')) with check (tenant_id::text = current_setting('app.tenant_id'));
       create policy system_access on ${s}.u to ${TEST_ROLES.system} using (current_user = '${TEST_ROLES.system}');
       alter table ${s}.u add constraint u_id_key unique (id);
       grant select, insert, update, delete, truncate on ${s}.t, ${s}.u to ${TEST_ROLES.app};`,
    );
    const throughApp = await runAudit(app, { schemas: [s] });
    const throughOwner = await runAudit(owner, { schemas: [s] });
    expect(throughApp.appRole).toBe(TEST_ROLES.app);
    expect(found(throughOwner)).toEqual(expect.arrayContaining([`policy-not-pinned ${s}.t policy open`, `rls-not-forced ${s}.t`]));
    expect(found(throughApp)).toEqual(found(throughOwner));
    for (const report of [throughApp, throughOwner]) {
      const sql = fixSql(report);
      expect(sql).not.toMatch(/system_access/);
      const statements = sql.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--') && l !== 'begin;' && l !== 'commit;');
      expect(statements.length).toBeGreaterThan(0);
      expect(new Set(statements).size).toBe(statements.length);
    }
  });
});
