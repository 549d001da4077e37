import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../packages/kernel/src/db/kernel.js';
import { createPool } from '../packages/kernel/src/db/pool.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { ProtocolCounter } from './helpers/protocol-counter.js';
import { pino } from 'pino';
import { createApp } from '../src/http/app.js';
import { generateApiKey } from '../src/http/auth/api-key.js';
import { createJwtVerifier } from '../src/http/auth/jwt-verifier.js';
import { mintToken } from '../src/http/auth/mint-token.js';
import { createOutboxNudge } from '../src/jobs/outbox-nudge.js';

// Statement and round-trip counts are deterministic, so they are asserted here; timings
// belong to the benchmark.
let db: TestDatabase;
let counter: ProtocolCounter;
let kernel: Kernel;
let setConfigKernel: Kernel;
let limitedKernel: Kernel;
let limitedSetConfigKernel: Kernel;
let plain: pg.Pool;
let appPool: pg.Pool;
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
  appPool = createPool({ connectionString: through(TEST_ROLES.app), max: 1, applicationName: 'counted' });
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

  it('statement and lock timeouts: no extra round trip (SET LOCAL each with set-local, which Citus sends on; in the set_config statement with set-config)', async () => {
    await limitedKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    expect(counter.take()).toEqual({ statements: 7, roundTrips: 1, writes: 1 });
    await limitedSetConfigKernel.tenantQuery(tenant, 'select * from projects where id = $1', [projectId]);
    expect(counter.take()).toEqual({ statements: 2, roundTrips: 1, writes: 1 });
  });

  it('a held transaction ending with last: the last statement carries the COMMIT', async () => {
    const tx = kernel.holdTenant(tenant);
    await tx.query('select count(*) from tasks');
    await tx.last('select * from projects where id = $1', [projectId]);
    expect(counter.take()).toEqual({ statements: 6, roundTrips: 2, writes: 2 });
  });

  it("a held transaction that is one round trip, with 'set-config': no BEGIN or COMMIT, the Sync ends it", async () => {
    const tx = limitedSetConfigKernel.holdTenant(tenant);
    tx.prepend('select count(*)::int as n from projects where id = $1', [projectId]);
    const { rows } = await tx.last('select name from projects where id = $1', [projectId]);
    expect(rows[0]!.name).toBe('p');
    expect(counter.take()).toEqual({ statements: 3, roundTrips: 1, writes: 1 });
    // Two round trips still open with BEGIN and end with COMMIT, and the settings held in both.
    const longer = limitedSetConfigKernel.holdTenant(tenant);
    await longer.query('select count(*) from tasks');
    const { rows: settings } = await longer.last("select current_setting('app.tenant_id') as tenant, current_setting('statement_timeout') as timeout");
    expect(settings[0]).toEqual({ tenant, timeout: '30s' });
    expect(counter.take()).toEqual({ statements: 5, roundTrips: 2, writes: 2 });
    // Nothing of the implicit transaction is left on the connection (the pool's only one).
    const { rows: after } = await appPool.query("select current_setting('app.tenant_id', true) as tenant, current_setting('statement_timeout') as timeout");
    expect([after[0].tenant || '', after[0].timeout]).toEqual(['', '0']);
    counter.take();
  });

  it('a held transaction: a prepended statement rides with the next one; when it fails, the next never runs', async () => {
    const tx = kernel.holdTenant(tenant);
    let seen = 0;
    tx.prepend('select count(*)::int as n from projects where id = $1', [projectId], ({ rows }) => (seen = rows[0]!.n));
    const { rows } = await tx.last('select name from projects where id = $1', [projectId]);
    expect([seen, rows[0]!.name]).toEqual([1, 'p']);
    expect(counter.take()).toEqual({ statements: 6, roundTrips: 1, writes: 1 });

    const failing = kernel.holdTenant(tenant);
    failing.prepend('select 1 / 0', []);
    await expect(failing.last("update projects set name = 'changed' where id = $1", [projectId])).rejects.toMatchObject({ code: '22012' });
    expect((await kernel.tenantQuery(tenant, 'select name from projects where id = $1', [projectId])).rows[0]!.name).toBe('p');
    counter.take();
  });

  it('a transaction whose function sends nothing sends nothing', async () => {
    await kernel.withTenant(tenant, async () => 'no queries');
    expect(counter.take()).toEqual({ statements: 0, roundTrips: 0, writes: 0 });
  });
});

describe('round trips of a request, from credential to COMMIT', () => {
  const secret = 'round-trips-secret-of-at-least-32-bytes';
  let app: ReturnType<typeof createApp>;
  let credentials: { jwt: string; 'API key': string };
  // A GET costs the credential (an API key is resolved first) and then one round trip:
  // BEGIN, context, the database's principal check, the read and COMMIT, in one write.
  const send = async (credential: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${credential}`, ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, 'content-type': 'application/json' };
    }
    const response = await app.request(path, init);
    return { status: response.status, body: response.status === 204 ? null : await response.json() };
  };

  beforeAll(async () => {
    app = createApp({
      kernel,
      log: pino({ level: 'silent' }),
      ready: async () => {},
      verifyJwt: createJwtVerifier({ secret }),
      adminToken: undefined,
      bodyLimit: 64 * 1024,
      corsOrigins: [],
      nudgeOutbox: createOutboxNudge(kernel),
    });
    const { key, prefix, hash } = generateApiKey(tenant);
    await kernel.asSystem(async (tx) => {
      await tx.query(`insert into team_members (tenant_id, user_id, email, role) values ($1, 'counted-owner', 'o@example.test', 'owner')`, [tenant]);
      await tx.query(`insert into api_keys (tenant_id, name, scopes, prefix, key_hash) values ($1, 'counted', '{read,write}', $2, $3)`, [tenant, prefix, hash]);
    });
    credentials = { jwt: await mintToken({ secret, tenantId: tenant, userId: 'counted-owner', tenantClaim: 'tid', ttl: '10m' }), 'API key': key };
    // Warm up: statements prepared on the connection, as in steady state.
    for (const credential of Object.values(credentials)) {
      for (let i = 0; i < 2; i++) {
        const created = await send(credential, 'POST', '/v1/projects', { name: 'warm' });
        await send(credential, 'GET', `/v1/projects/${created.body.id}`);
        await send(credential, 'GET', '/v1/projects?limit=2');
        await send(credential, 'PATCH', `/v1/projects/${created.body.id}`, { name: 'warmer' });
        await send(credential, 'DELETE', `/v1/projects/${created.body.id}`);
      }
    }
    counter.take();
  });

  // Round trips per request, after the credential: reads are one; a create is the insert
  // (with the check) and its audit entry and event (with the COMMIT); an update first locks the
  // row; a delete sends the delete and its record together.
  const EXPECTED = { 'GET by id': 1, list: 1, POST: 2, PATCH: 3, DELETE: 2 };
  for (const [kind, resolve] of [['jwt', 0], ['API key', 1]] as const) {
    it(`with a ${kind}: GET by id ${EXPECTED['GET by id']}, list ${EXPECTED.list}, POST ${EXPECTED.POST}, PATCH ${EXPECTED.PATCH}, DELETE ${EXPECTED.DELETE}${resolve ? ', each plus 1 to resolve the key' : ''}`, async () => {
      const credential = credentials[kind];
      const trips: Record<string, number> = {};
      const created = await send(credential, 'POST', '/v1/projects', { name: 'counted' });
      expect(created.status).toBe(201);
      trips.POST = counter.take().roundTrips;
      expect((await send(credential, 'GET', `/v1/projects/${created.body.id}`)).status).toBe(200);
      trips['GET by id'] = counter.take().roundTrips;
      expect((await send(credential, 'GET', '/v1/projects?limit=2')).status).toBe(200);
      trips.list = counter.take().roundTrips;
      expect((await send(credential, 'PATCH', `/v1/projects/${created.body.id}`, { name: 'recounted' })).status).toBe(200);
      trips.PATCH = counter.take().roundTrips;
      expect((await send(credential, 'DELETE', `/v1/projects/${created.body.id}`)).status).toBe(204);
      trips.DELETE = counter.take().roundTrips;
      expect(trips).toEqual(Object.fromEntries(Object.entries(EXPECTED).map(([k, n]) => [k, n + resolve])));
    });
  }

  it('a read is one write to the socket: BEGIN, context, proof, principal check, statement, COMMIT', async () => {
    await send(credentials.jwt, 'GET', `/v1/projects/${projectId}`);
    expect(counter.take()).toEqual({ statements: 6, roundTrips: 1, writes: 1 });
  });

  it("with the service's default on plain PostgreSQL (set-config): a read is the settings, the inlined check and the statement, one implicit transaction", async () => {
    const options = { kernel: limitedSetConfigKernel, log: pino({ level: 'silent' }), ready: async () => {}, verifyJwt: createJwtVerifier({ secret }), adminToken: undefined, bodyLimit: 64 * 1024, corsOrigins: [], nudgeOutbox: createOutboxNudge(limitedSetConfigKernel) };
    const service = createApp(options);
    const get = async (path: string) => {
      const response = await service.request(path, { headers: { authorization: `Bearer ${credentials.jwt}` } });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    };
    for (let i = 0; i < 2; i++) await get(`/v1/projects/${projectId}`); // statements prepared
    counter.take();
    await get(`/v1/projects/${projectId}`);
    expect(counter.take()).toEqual({ statements: 3, roundTrips: 1, writes: 1 });
    await get('/v1/projects?limit=2');
    expect(counter.take()).toEqual({ statements: 3, roundTrips: 1, writes: 1 });
  });

  it('with an Idempotency-Key, a POST is the lookup (with the check), the write, and the stored response with the COMMIT', async () => {
    const created = await send(credentials.jwt, 'POST', '/v1/projects', { name: 'once' }, { 'idempotency-key': 'counted-once' });
    expect(created.status).toBe(201);
    expect(counter.take().roundTrips).toBe(4);
  });
});
