import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../packages/kernel/src/db/kernel.js';
import { SQLSTATE } from '../packages/kernel/src/db/sql.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { createHarness } from './helpers/http.js';

let db: TestDatabase;
const tenant = randomUUID();
let projectId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const { kernel } = db.kernel({ appPoolSize: 1 });
  await kernel.asSystem((tx) => tx.query('insert into tenants (id, name) values ($1, $2)', [tenant, 'Acme']));
  projectId = (await kernel.tenantQuery(tenant, `insert into projects (tenant_id, name) values ($1, 'locked') returning id`, [tenant])).rows[0]!.id;
});
afterAll(() => db.close());

const settings = (kernel: Kernel) =>
  kernel.withTenant(tenant, (tx) => tx.query(`select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock`)).then((r) => r.rows[0]);

/** Holds a row lock from the owner's connection until the returned function is called. */
async function lockProject(tenantId: string = tenant): Promise<() => Promise<void>> {
  const owner = await db.ownerClient();
  await owner.query('begin');
  await owner.query(`set local role ${TEST_ROLES.system}`);
  await owner.query('select 1 from projects where tenant_id = $1 and id = $2 for update', [tenantId, projectId]);
  return async () => {
    await owner.query('rollback');
    await owner.end();
  };
}

// On Citus only SET LOCAL reaches the workers; the service refuses set-config there.
const CONTEXTS = process.env.ROWGUARD_TEST_ON_CITUS === '1' ? (['set-local'] as const) : (['set-local', 'set-config'] as const);

describe.each(CONTEXTS)('per-transaction limits (tenantContext %s)', (tenantContext) => {
  it('ends a transaction left idle (a handler stuck on something else) and frees its connection', async () => {
    const { kernel, appPool } = db.kernel({ appPoolSize: 1, tenantContext, idleInTransactionTimeout: 200 });
    const stuck = kernel.withTenant(tenant, async (tx) => {
      await tx.query('select count(*) from projects');
      await new Promise((resolve) => setTimeout(resolve, 700)); // no statement: idle in transaction
      return tx.query('select count(*) from projects');
    });
    await expect(stuck).rejects.toThrow();
    // The server ended that session; the pool replaces it and the next transaction runs.
    expect((await kernel.tenantQuery(tenant, 'select count(*)::int as n from projects')).rows[0]!.n).toBe(1);
    expect(appPool.totalCount).toBe(1);
    const su = await db.superuserClient();
    const { rows } = await su.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and usename = $1 and state like 'idle in transaction%'`, [TEST_ROLES.app]);
    expect(rows[0].n).toBe(0);
    // Local to the transaction like the other limits: the pooled session keeps the server's value.
    const client = await appPool.connect();
    expect((await client.query('show idle_in_transaction_session_timeout')).rows[0].idle_in_transaction_session_timeout).toBe('0');
    client.release();
  });

  it('ends a long statement with 57014 and leaves the only connection usable', async () => {
    // Long enough for the statements after the cancelled ones: on a loaded Citus cluster the
    // coordinator may first open new connections to the workers (150 ms was not, in CI).
    const { kernel, appPool } = db.kernel({ appPoolSize: 1, tenantContext, statementTimeout: 500 });
    const started = performance.now();
    await expect(kernel.withTenant(tenant, (tx) => tx.query('select pg_sleep(5)'))).rejects.toMatchObject({ code: SQLSTATE.QUERY_CANCELED });
    await expect(kernel.tenantQuery(tenant, 'select pg_sleep(5)')).rejects.toMatchObject({ code: SQLSTATE.QUERY_CANCELED });
    expect(performance.now() - started).toBeLessThan(3000);
    expect((await kernel.tenantQuery(tenant, 'select count(*)::int as n from projects')).rows[0]!.n).toBe(1);
    expect(await settings(kernel)).toEqual({ statement: '500ms', lock: '0' });
    // SET LOCAL semantics: the limit does not outlive the transaction on the pooled connection.
    expect(appPool.totalCount).toBe(1);
    const client = await appPool.connect();
    expect((await client.query('show statement_timeout')).rows[0].statement_timeout).toBe('0');
    client.release();
  });

  it('ends a wait for a lock with 55P03 and leaves the connection usable', async () => {
    const { kernel } = db.kernel({ appPoolSize: 1, tenantContext, statementTimeout: 10_000, lockTimeout: 150 });
    const unlock = await lockProject();
    try {
      await expect(kernel.withTenant(tenant, (tx) => tx.query(`update projects set name = 'changed' where tenant_id = $1 and id = $2`, [tenant, projectId]))).rejects.toMatchObject({
        code: SQLSTATE.LOCK_NOT_AVAILABLE,
      });
    } finally {
      await unlock();
    }
    expect((await kernel.tenantQuery(tenant, `update projects set name = 'changed' where tenant_id = $1 and id = $2`, [tenant, projectId])).rowCount).toBe(1);
    expect(await settings(kernel)).toEqual({ statement: '10s', lock: '150ms' });
  });

  it('applies to system transactions too, and adds nothing when no limit is set', async () => {
    const limited = db.kernel({ appPoolSize: 1, tenantContext, statementTimeout: 150 }).kernel;
    await expect(limited.asSystem((tx) => tx.query('select pg_sleep(5)'))).rejects.toMatchObject({ code: SQLSTATE.QUERY_CANCELED });
    const unlimited = db.kernel({ appPoolSize: 1, tenantContext }).kernel;
    expect(await settings(unlimited)).toEqual({ statement: '0', lock: '0' });
  });
});

describe('over HTTP', () => {
  it.each([
    { limits: { lockTimeout: 150, statementTimeout: 10_000 }, code: 'LOCK_TIMEOUT' },
    { limits: { statementTimeout: 500 }, code: 'TIMEOUT' },
  ])('a write blocked by a lock gets 503 $code as problem+json, and the next one succeeds', async ({ limits, code }) => {
    const h = createHarness(db, { kernel: { appPoolSize: 1, ...limits } });
    const owner = await h.tenant('Timeouts');
    const created = await h.call('POST', '/v1/projects', { token: owner.token, body: { name: 'p' } });
    projectId = created.body.id;
    const unlock = await lockProject(owner.id);
    let blocked;
    try {
      blocked = await h.call('PATCH', `/v1/projects/${projectId}`, { token: owner.token, body: { name: 'changed' } });
    } finally {
      await unlock();
    }
    expect(blocked.status).toBe(503);
    expect(blocked.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(blocked.body).toMatchObject({ status: 503, code });
    // Nothing of the server's message ("canceling statement due to lock timeout") or the SQL.
    expect(Object.keys(blocked.body).sort()).toEqual(['code', 'requestId', 'status', 'title', 'type']);
    const after = await h.call('PATCH', `/v1/projects/${projectId}`, { token: owner.token, body: { name: 'changed' } });
    expect(after.status).toBe(200);
    expect(after.body.name).toBe('changed');
  });
});
