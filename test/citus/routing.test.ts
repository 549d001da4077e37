import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, createPool, type Kernel } from '@rowguard/kernel';
import { createOutboxNudge } from '../../src/jobs/outbox-nudge.js';
import { DELIVERY_QUEUE, relayOutbox } from '../../src/jobs/outbox-relay.js';
import { createQueue } from '../../src/jobs/queue.js';
import { deliverWebhook } from '../../src/webhooks/delivery.js';
import { createApp } from '../../src/http/app.js';
import { createJwtVerifier } from '../../src/http/auth/jwt-verifier.js';
import { mintToken } from '../../src/http/auth/mint-token.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { setTenantContext } from '../helpers/fixtures.js';
import { ProtocolCounter, type ExecutedStatement } from '../helpers/protocol-counter.js';

// Every statement the service sends for a request, as the proxy saw it on the app role's
// connection, is EXPLAINed on the cluster: each must run on one shard, so that a request is a
// single-node transaction (no two-phase commit, FOR UPDATE allowed).
let db: TestDatabase;
let counter: ProtocolCounter;
let systemCounter: ProtocolCounter;
let kernel: Kernel;
let app: ReturnType<typeof createApp>;
let explainer: pg.Client;
let systemExplainer: pg.Client;
let token: string;
const tenant = randomUUID();
const secret = 'a routing test secret of 32 bytes or more';
const pools: pg.Pool[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.appUrl);
  counter = new ProtocolCounter({ host: url.hostname, port: Number(url.port || 5432) });
  url.hostname = '127.0.0.1';
  url.port = String(await counter.start());
  const appPool = createPool({ connectionString: url.toString(), max: 1 });
  systemCounter = new ProtocolCounter({ host: url.hostname, port: Number(new URL(db.ownerUrl).port || 5432) });
  const ownerUrl = new URL(db.ownerUrl);
  ownerUrl.hostname = '127.0.0.1';
  ownerUrl.port = String(await systemCounter.start());
  const systemPool = createPool({ connectionString: ownerUrl.toString(), max: 1 });
  pools.push(appPool, systemPool);
  kernel = createKernel({ appPool, systemPool, systemRole: TEST_ROLES.system });
  app = createApp({ kernel, log: pino({ level: 'silent' }), ready: async () => {}, verifyJwt: createJwtVerifier({ secret }), adminToken: undefined, bodyLimit: 64 * 1024, corsOrigins: [], allowPrivateDestinations: true, nudgeOutbox: createOutboxNudge(kernel) });
  await kernel.asSystem(async (tx) => {
    await tx.query(`insert into tenants (id, name) values ($1, 'routed')`, [tenant]);
    await tx.query(`insert into team_members (tenant_id, user_id, email, role) values ($1, 'routed-owner', 'o@example.test', 'owner')`, [tenant]);
  });
  token = await mintToken({ secret, tenantId: tenant, userId: 'routed-owner', tenantClaim: 'tid', ttl: '10m' });
  explainer = await db.appClient();
  systemExplainer = await db.ownerClient();
});
afterAll(async () => {
  await Promise.allSettled(pools.map((pool) => pool.end()));
  await counter?.stop();
  await systemCounter?.stop();
  await db.close();
});

async function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) } };
  if (body) init.body = JSON.stringify(body);
  const response = await app.request(path, init);
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

// Transaction control and settings reach no table.
const REACHES_NO_TABLE = /^(begin|commit|rollback|set local |select set_config\()/i;

/**
 * How many shards each statement's plan touches, as "statement → tasks" for those over one;
 * explained in the tenant's context, or in system mode (`asSystem`) for the worker's.
 */
async function multiShard(statements: ExecutedStatement[], { system = false } = {}): Promise<string[]> {
  const spread: string[] = [];
  for (const { text, values } of statements) {
    if (REACHES_NO_TABLE.test(text.trim())) continue;
    const client = system ? systemExplainer : explainer;
    await client.query('begin');
    try {
      if (system) await client.query(`set local role ${TEST_ROLES.system}`);
      else await setTenantContext(client, { tenantId: tenant, proof: '' });
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`explain (format json) ${text}`, values).catch((error: Error) => {
        throw new Error(`${error.message}: ${text}`);
      });
      const tasks = taskCounts(rows[0]!['QUERY PLAN']);
      if (tasks.some((n) => n !== 1)) spread.push(`${text.replace(/\s+/g, ' ').slice(0, 120)} → ${tasks.join(', ')} tasks`);
    } finally {
      await client.query('rollback');
    }
  }
  return spread;
}

/** Every "Task Count" in a Citus plan (none for a plan that reads no distributed table). */
function taskCounts(plan: unknown): number[] {
  if (Array.isArray(plan)) return plan.flatMap(taskCounts);
  if (plan === null || typeof plan !== 'object') return [];
  return Object.entries(plan).flatMap(([key, value]) => (key === 'Task Count' ? [value as number] : taskCounts(value)));
}

const RESOURCES: { path: string; create: () => Promise<Record<string, unknown>>; change: Record<string, unknown> }[] = [
  { path: '/v1/projects', create: async () => ({ name: 'Routed' }), change: { name: 'Rerouted' } },
  { path: '/v1/tasks', create: async () => ({ project_id: (await send('POST', '/v1/projects', { name: 'For tasks' })).body.id, title: 'Routed' }), change: { title: 'Rerouted' } },
  { path: '/v1/documents', create: async () => ({ title: 'Routed' }), change: { title: 'Rerouted' } },
  { path: '/v1/invoices', create: async () => ({ number: `R-${randomUUID().slice(0, 8)}`, customer_name: 'Routed', currency: 'EUR', line_items: [] }), change: { customer_name: 'Rerouted' } },
  { path: '/v1/members', create: async () => ({ user_id: `routed-${randomUUID().slice(0, 8)}`, email: `${randomUUID().slice(0, 8)}@example.test`, role: 'member' }), change: { display_name: 'Rerouted' } },
  { path: '/v1/api-keys', create: async () => ({ name: 'Routed', scopes: ['read'] }), change: { name: 'Rerouted' } },
  { path: '/v1/webhooks', create: async () => ({ url: 'http://127.0.0.1:9/routed', event_types: ['project.created'] }), change: { enabled: false } },
];

describe('every statement of a request runs on one shard', () => {
  it.each(RESOURCES)('$path: create, get by id, list, update, delete', async ({ path, create, change }) => {
    const body = await create();
    counter.takeStatements();
    const created = await send('POST', path, body);
    expect(created.status).toBe(201);
    const requests: [string, () => Promise<{ status: number }>][] = [
      ['get by id', () => send('GET', `${path}/${created.body.id}`)],
      ['list', () => send('GET', `${path}?limit=5`)],
      ['update', () => send('PATCH', `${path}/${created.body.id}`, change)],
      ['delete', () => send('DELETE', `${path}/${created.body.id}`)],
    ];
    const statements = counter.takeStatements();
    expect(statements.length).toBeGreaterThan(0);
    const spread = await multiShard(statements);
    for (const [, request] of requests) {
      expect((await request()).status).toBeLessThan(300);
      const sent = counter.takeStatements();
      expect(sent.length).toBeGreaterThan(0);
      spread.push(...(await multiShard(sent)));
    }
    expect(spread).toEqual([]);
  });

  it('the outbox relay and a webhook delivery: every statement but the search for tenants with work', async () => {
    const boss = createQueue({ connectionString: db.ownerUrl });
    await boss.start();
    try {
      await boss.createQueue(DELIVERY_QUEUE, { name: DELIVERY_QUEUE, policy: 'stately' });
      const hook = await send('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/relayed', event_types: ['project.created'] });
      expect(hook.status).toBe(201);
      expect((await send('POST', '/v1/projects', { name: 'Relayed' })).status).toBe(201);
      systemCounter.takeStatements();
      counter.takeStatements();
      expect((await relayOutbox(kernel, boss)).queued).toBeGreaterThan(0);
      const { rows } = await kernel.asSystem((tx) => tx.query<{ id: string }>('select id from webhook_deliveries where tenant_id = $1 and webhook_id = $2', [tenant, hook.body.id]));
      await deliverWebhook(kernel, { tenantId: tenant, deliveryId: rows[0]!.id }, { timeoutMs: 1_000, allowPrivate: true, maxAttempts: 1 });
      const worker = systemCounter.takeStatements().filter((s) => !/webhook_deliveries where tenant_id = \$1 and webhook_id = \$2/.test(s.text));
      expect(worker.length).toBeGreaterThan(5);
      const spread = [...(await multiShard(worker, { system: true })), ...(await multiShard(counter.takeStatements()))];
      expect(spread).toEqual([expect.stringMatching(/^ select tenant_id from \( select tenant_id, min\(created_at\)/)]);
    } finally {
      await boss.stop({ graceful: false });
    }
  });

  it('an API key is looked up among its tenant\'s keys, on one shard; a key without a tenant part reads them all', async () => {
    const created = await send('POST', '/v1/api-keys', { name: 'Looked up', scopes: ['read'] });
    expect(created.status).toBe(201);
    const hash = createHash('sha256').update(created.body.key).digest();
    const shardsRead = async (text: string, values: unknown[]) => {
      const client = await db.appClient();
      const shards = new Set<string>();
      client.on('notice', (notice) => {
        for (const shard of notice.message?.match(/api_keys_\d+/g) ?? []) shards.add(shard);
      });
      await client.query('begin');
      await client.query(`set local citus.log_remote_commands = on`);
      await client.query(`set local client_min_messages = log`);
      expect((await client.query(text, values)).rows).toHaveLength(1);
      await client.query('rollback');
      return shards.size;
    };
    expect(await shardsRead('select * from rowguard.resolve_api_key($1, $2)', [tenant, hash])).toBe(1);
    expect(await shardsRead('select * from rowguard.resolve_api_key($1)', [hash])).toBeGreaterThan(1);
  });

  it('the check finds a statement that does not name its tenant', async () => {
    expect(await multiShard([{ text: 'select id from projects where name = $1', values: ['x'] }])).toEqual([expect.stringMatching(/→ \d+ tasks$/)]);
  });
});
