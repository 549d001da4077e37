import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../src/db/kernel.js';
import { createPool } from '../src/db/pool.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { ProtocolCounter } from './helpers/protocol-counter.js';

// Statement and round-trip counts are deterministic, so they are asserted here; timings
// belong to the benchmark.
let db: TestDatabase;
let counter: ProtocolCounter;
let kernel: Kernel;
let setConfigKernel: Kernel;
let limitedKernel: Kernel;
let limitedSetConfigKernel: Kernel;
let plain: pg.Pool;
const tenant = randomUUID();
let projectId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.appUrl);
  counter = new ProtocolCounter({ host: url.hostname, port: Number(url.port || 5432) });
  const proxyPort = await counter.start();
  const through = (role: string) => {
    const u = new URL(db.urlFor(role));
    u.hostname = '127.0.0.1';
    u.port = String(proxyPort);
    return u.toString();
  };
  const appPool = createPool({ connectionString: through(TEST_ROLES.app), max: 1, applicationName: 'counted' });
  const systemPool = createPool({ connectionString: db.ownerUrl, max: 1, applicationName: 'system' });
  plain = createPool({ connectionString: through(TEST_ROLES.app), max: 1, applicationName: 'counted plain' });
  const base = { appPool, systemPool, systemRole: TEST_ROLES.system, contextKey: db.contextKey };
  kernel = createKernel(base);
  setConfigKernel = createKernel({ ...base, tenantContext: 'set-config' });
  const limits = { statementTimeout: 30_000, lockTimeout: 10_000 };
  limitedKernel = createKernel({ ...base, ...limits });
  limitedSetConfigKernel = createKernel({ ...base, tenantContext: 'set-config', ...limits });
  await kernel.asSystem(async (tx) => {
    await tx.query('insert into tenants (id, name) values ($1, $2)', [tenant, 'counted']);
    projectId = (await tx.query("insert into projects (tenant_id, name) values ($1, 'p') returning id", [tenant])).rows[0]!.id;
  });
  // Warm up: connections open and statements prepared, as in steady state.
  for (let i = 0; i < 2; i++) {
    await kernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    await kernel.withTenant(tenant, (tx) => tx.query('select * from projects where id = $1', [projectId]));
    await setConfigKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    await limitedKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    await limitedSetConfigKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    await plain.query({ name: 'floor', text: 'select 1 where $1::uuid is not null', values: [projectId] });
  }
  counter.take();
  return async () => {
    await Promise.allSettled([appPool.end(), systemPool.end(), plain.end()]);
    await counter.stop();
  };
});
afterAll(() => db.close());

describe('cost of tenant scoping on the wire', () => {
  it('an unscoped prepared query: 1 statement, 1 round trip (the floor)', async () => {
    await plain.query({ name: 'floor', text: 'select 1 where $1::uuid is not null', values: [projectId] });
    expect(counter.take()).toEqual({ statements: 1, roundTrips: 1, writes: 1 });
  });

  it('tenantQuery: one round trip in one write (BEGIN, SET LOCAL, the proof, statement, COMMIT)', async () => {
    const { rows } = await kernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    expect(rows).toHaveLength(1);
    expect(counter.take()).toEqual({ statements: 5, roundTrips: 1, writes: 1 });
  });

  it('withTenant: scope rides on the first statement; COMMIT is the one extra round trip', async () => {
    await kernel.withTenant(tenant, (tx) => tx.query('select * from projects where id = $1', [projectId]));
    expect(counter.take()).toEqual({ statements: 5, roundTrips: 2, writes: 2 });
    await kernel.withTenant(tenant, async (tx) => {
      await tx.query('select * from projects where id = $1', [projectId]);
      await tx.query('select count(*) from tasks');
    });
    expect(counter.take()).toEqual({ statements: 6, roundTrips: 3, writes: 3 });
  });

  it("tenantQuery with tenantContext 'set-config': one set_config statement (id and proof), one round trip", async () => {
    const { rows } = await setConfigKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    expect(rows).toHaveLength(1);
    expect(counter.take()).toEqual({ statements: 2, roundTrips: 1, writes: 1 });
  });

  it('statement and lock timeouts: no extra statement, they join the set_config statement', async () => {
    await limitedKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    expect(counter.take()).toEqual({ statements: 5, roundTrips: 1, writes: 1 });
    await limitedSetConfigKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    expect(counter.take()).toEqual({ statements: 2, roundTrips: 1, writes: 1 });
  });

  it('withTenant ending with queryAndCommit: the last statement carries the COMMIT', async () => {
    await kernel.withTenant(tenant, async (tx) => {
      await tx.query('select count(*) from tasks');
      await tx.queryAndCommit('select * from projects where id = $1', [projectId]);
    });
    expect(counter.take()).toEqual({ statements: 6, roundTrips: 2, writes: 2 });
  });

  it('a transaction whose function sends nothing sends nothing', async () => {
    await kernel.withTenant(tenant, async () => 'no queries');
    expect(counter.take()).toEqual({ statements: 0, roundTrips: 0, writes: 0 });
  });
});
