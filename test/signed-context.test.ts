import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe } from '../packages/audit/src/probe/run-probe.js';
import { setSignedContext } from '../packages/kernel/src/schema/signed-context.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { seedTenant, type TenantSeed } from './helpers/fixtures.js';
import { checkTableIsolation, discoverTenantTables } from './helpers/isolation-check.js';

// With `rowguard signed-context on`. The statement guard refuses the obvious forms; this is
// what holds when SQL it cannot see runs as the app role inside a tenant transaction (here sent
// on a raw app connection, the way an injection would reach the server).
let db: TestDatabase;
let app: pg.Client;
let owner: pg.Client;
const [a, b] = [randomUUID(), randomUUID()];

const count = async (client: pg.ClientBase, tenant?: string) =>
  (await client.query<{ n: number }>(`select count(*)::int as n from projects${tenant ? ' where tenant_id = $1' : ''}`, tenant ? [tenant] : [])).rows[0]!.n;

beforeAll(async () => {
  db = await createTestDatabase();
  owner = await db.ownerClient();
  const { changed } = await setSignedContext(owner, true);
  expect(changed.length).toBe(2 * (await discoverTenantTables(owner)).length);
  const { kernel } = db.kernel();
  await kernel.asSystem(async (tx) => {
    await tx.query('insert into tenants (id, name) values ($1, $2), ($3, $4)', [a, 'A', b, 'B']);
    await tx.query(`insert into projects (tenant_id, name) values ($1, 'a1'), ($1, 'a2'), ($2, 'b1')`, [a, b]);
  });
  app = await db.appClient();
});
afterAll(() => db.close());

/** A's context exactly as the kernel sets it. */
async function beginAsA(): Promise<void> {
  await app.query('begin');
  await app.query(`set local app.tenant_id = '${a}'`);
  await app.query(`select set_config('app.tenant_proof', $1, true)`, [db.proof(a)]);
}

describe('a signed tenant context', () => {
  it('shows the tenant its own rows', async () => {
    await beginAsA();
    expect(await count(app)).toBe(2);
    await app.query('rollback');
  });

  it('is what every tenant policy reads, and turning it on again changes nothing', async () => {
    const { rows } = await owner.query<{ n: number }>(`select count(*)::int as n from pg_policies where policyname like 'tenant_isolation%' and qual not like '%rowguard.tenant_id()%'`);
    expect(rows[0]!.n).toBe(0);
    expect((await setSignedContext(owner, true)).changed).toEqual([]);
  });

  it('a malformed tenant id shows nothing, and is an error even with a valid proof for it', async () => {
    await app.query('begin');
    await app.query("set local app.tenant_id = 'not-a-uuid'");
    expect(await count(app)).toBe(0);
    // Only the kernel can make a proof, and it signs canonical UUIDs only; even so the cast fails closed.
    await app.query("select set_config('app.tenant_proof', $1, true)", [db.proof('not-a-uuid')]);
    await expect(app.query('select * from projects')).rejects.toMatchObject({ code: '22P02' });
    await app.query('rollback');
  });

  it.each([
    ['set_config', `select set_config('app.tenant_id', '${b}', true)`],
    ['SET LOCAL with a quoted name', `set local "app.tenant_id" = '${b}'`],
    ['set_config run through query_to_xml', `select query_to_xml('select set_config(''app.tenant_id'', ''${b}'', true)', false, false, '')`],
  ])('cannot be switched to another tenant by %s: nothing of either tenant is visible', async (_how, injected) => {
    await beginAsA();
    await app.query(injected);
    expect(await count(app, b)).toBe(0);
    expect(await count(app)).toBe(0);
    await expect(app.query(`insert into projects (tenant_id, name) values ($1, 'planted')`, [b])).rejects.toMatchObject({ code: '42501' });
    await app.query('rollback');
  });

  it('cannot be switched with A’s own proof either, nor by guessing one', async () => {
    await beginAsA();
    const { rows } = await app.query<{ proof: string }>(`select current_setting('app.tenant_proof') as proof`);
    await app.query(`select set_config('app.tenant_id', $1, true), set_config('app.tenant_proof', $2, true)`, [b, rows[0]!.proof]);
    expect(await count(app)).toBe(0);
    await app.query(`select set_config('app.tenant_proof', $1, true)`, ['0'.repeat(64)]);
    expect(await count(app)).toBe(0);
    await app.query('rollback');
  });

  it('keeps the key out of the app role’s reach', async () => {
    await expect(app.query('select key from rowguard.context_key')).rejects.toMatchObject({ code: '42501' });
  });

  it('is never carried into the next transaction of a pooled connection, even set for the session', async () => {
    const { kernel, appPool } = db.kernel({ appPoolSize: 1 });
    const client = await appPool.connect();
    // Injected at session level: B's id with A's proof, which outlives the transaction.
    await client.query(`select set_config('app.tenant_id', $1, false), set_config('app.tenant_proof', $2, false)`, [b, db.proof(a)]);
    client.release();
    expect((await kernel.withoutTenant((tx) => tx.query('select count(*)::int as n from projects'))).rows[0]!.n).toBe(0);
    expect((await kernel.tenantQuery(a, 'select distinct tenant_id::text as t from projects')).rows).toEqual([{ t: a }]);
    expect((await kernel.tenantQuery(b, 'select distinct tenant_id::text as t from projects')).rows).toEqual([{ t: b }]);
    // Outside any kernel transaction the leftover session values admit nothing.
    const same = await appPool.connect();
    expect(await count(same)).toBe(0);
    // Even A's own id and proof left for the session do not reach a transaction for nobody.
    await same.query(`select set_config('app.tenant_id', $1, false), set_config('app.tenant_proof', $2, false)`, [a, db.proof(a)]);
    same.release();
    expect((await kernel.withoutTenant((tx) => tx.query('select count(*)::int as n from projects'))).rows[0]!.n).toBe(0);
  });

  it('keeps every tenant table apart, as the catalog-driven isolation check proves', async () => {
    const seeds: [TenantSeed, TenantSeed] = [await seedTenant(owner, app, TEST_ROLES.system), await seedTenant(owner, app, TEST_ROLES.system)];
    for (const { table, column } of await discoverTenantTables(owner)) {
      expect({ table, problems: await checkTableIsolation(app, table, column, ...seeds) }).toEqual({ table, problems: [] });
    }
  });

  it('passes rowguard probe, which here also tries every table with a context it cannot sign', async () => {
    const report = await runProbe(await db.superuserClient(), await db.appClient());
    expect(report.results.filter((r) => r.status === 'fail')).toEqual([]);
    expect(report.summary.pass).toBeGreaterThan(10);
  });

  it('leaves the system role its cross-tenant access', async () => {
    const { kernel } = db.kernel();
    const { rows } = await kernel.asSystem((tx) => tx.query<{ n: number }>('select count(distinct tenant_id)::int as n from projects'));
    expect(rows[0]!.n).toBeGreaterThanOrEqual(2);
  });
});

describe('turned off again', () => {
  it('the policies trust app.tenant_id alone: the forgery the proof stops works again', async () => {
    const { changed } = await setSignedContext(owner, false);
    expect(changed.length).toBeGreaterThan(0);
    await beginAsA();
    await app.query(`select set_config('app.tenant_id', '${b}', true)`);
    expect(await count(app, b)).toBe(1);
    await app.query('rollback');
  });
});
