import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverWebhook } from '../../src/webhooks/delivery.js';
import { pruneDeliveries, purgeIdempotencyKeys } from '../../src/jobs/maintenance.js';
import { postJson } from '../../src/webhooks/post-json.js';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness, type Harness, type TestTenant } from '../helpers/http.js';
import { Receiver } from '../helpers/receiver.js';
import { WORKER_SETTINGS } from '../helpers/worker-settings.js';

let db: TestDatabase;
let h: Harness;
let a: TestTenant;
const workers: Worker[] = [];
const receivers: Receiver[] = [];

async function worker(): Promise<Worker> {
  const { kernel, systemPool } = db.kernel();
  const started = await startWorker({ kernel, ownerPool: systemPool, ownerUrl: db.ownerUrl, log: pino({ level: process.env.WORKER_LOG ?? 'silent' }), ...WORKER_SETTINGS });
  workers.push(started);
  return started;
}

async function receiver(): Promise<{ receiver: Receiver; url: string }> {
  const r = new Receiver();
  receivers.push(r);
  return { receiver: r, url: await r.start() };
}

async function endpoint(url: string, eventTypes = ['project.created'], t: TestTenant = a): Promise<{ id: string; secret: string }> {
  const reply = await h.call('POST', '/v1/webhooks', { token: t.token, body: { url, event_types: eventTypes } });
  expect(reply.status).toBe(201);
  return reply.body;
}

async function deliveries(webhookId: string, t: TestTenant = a) {
  return (await h.call('GET', `/v1/webhooks/${webhookId}/deliveries`, { token: t.token })).body.data as {
    status: string;
    event_id: string;
    attempts: { attempt: number; status_code: number | null; error: string | null }[];
  }[];
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  h = createHarness(db, { app: { allowPrivateDestinations: true } });
  a = await h.tenant('Acme');
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all(receivers.map((r) => r.stop()));
  await db.close();
});

describe('destinations', () => {
  it.each([
    ['loopback', 'http://127.0.0.1:8080/hook'],
    ['loopback by name', 'http://localhost/hook'],
    ['IPv6 loopback', 'http://[::1]/hook'],
    ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/hook'],
    ['private 10/8', 'http://10.1.2.3/hook'],
    ['private 172.16/12', 'https://172.20.0.1/hook'],
    ['private 192.168/16', 'http://192.168.1.10/hook'],
    ['link-local cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['IPv6 link-local', 'http://[fe80::1]/hook'],
    ['IPv6 unique-local', 'http://[fd12:3456::1]/hook'],
    ['unspecified', 'http://0.0.0.0/hook'],
    ['carrier-grade NAT', 'http://100.64.0.1/hook'],
  ])('refuses %s at registration', async (_label, url) => {
    const strict = createHarness(db);
    const t = await strict.tenant();
    const reply = await strict.call('POST', '/v1/webhooks', { token: t.token, body: { url, event_types: ['*'] } });
    expect(reply.status).toBe(422);
    expect(reply.body.code).toBe('DESTINATION_NOT_ALLOWED');
    const changed = await strict.call('POST', '/v1/webhooks', { token: t.token, body: { url: 'https://hooks.example.test/hook', event_types: ['*'] } });
    expect(changed.status).toBe(201);
    expect((await strict.call('PATCH', `/v1/webhooks/${changed.body.id}`, { token: t.token, body: { url } })).status).toBe(422);
  });

  it('refuses again at delivery time, and records why', async () => {
    const { receiver: r, url } = await receiver();
    const hook = await endpoint(url, ['*']);
    // A delivery no worker will pick up (already marked queued), delivered by hand below.
    const { rows } = await h.kernel.asSystem((tx) =>
      tx.query<{ id: string }>(
        `insert into webhook_deliveries (tenant_id, webhook_id, event_id, event_type, payload, enqueued) values ($1, $2, gen_random_uuid(), 'x.y', '{}', true) returning id`,
        [a.id, hook.id],
      ),
    );
    await expect(deliverWebhook(h.kernel, { tenantId: a.id, deliveryId: rows[0]!.id }, { ...WORKER_SETTINGS.delivery, allowPrivate: false })).rejects.toThrow(/not allowed/);
    expect(r.received).toHaveLength(0);
    const [delivery] = (await deliveries(hook.id)).filter((d) => d.event_id !== undefined && d.attempts.length > 0);
    expect(delivery!.attempts[0]!.error).toMatch(/destination is not allowed: 127\.0\.0\.1/);
  });
});

describe('the delivery deadline', () => {
  it('covers the whole attempt: a receiver dribbling its body is cut off at the deadline and its socket closed', async () => {
    const { receiver: r, url } = await receiver();
    r.respond = () => 'dribble';
    r.dribbleMs = 200; // well inside any idle timeout
    const timeoutMs = 1000;
    const outcome = await Promise.race([
      postJson(url, '{}', { 'content-type': 'application/json' }, { timeoutMs, allowPrivate: true }).then(
        (status) => `answered ${status}`,
        (error: Error) => error.message,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still open after 5 s'), 5_000)),
    ]);
    expect(outcome).toMatch(/no complete response within 1000 ms/);
    // The receiver sees its end of the connection closed: nothing is left open to dribble into.
    const [lifetime] = await until(async () => r.connectionLifetimes, (l) => l.length > 0, 5_000);
    expect(lifetime).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(lifetime).toBeLessThan(timeoutMs + 1_000);
    expect(r.openConnections()).toBe(0);
  });

  it('records an attempt cut off by the deadline as failed, with why', async () => {
    const { receiver: r, url } = await receiver();
    r.respond = () => 'dribble';
    r.dribbleMs = 200;
    const hook = await endpoint(url, ['deadline.test']); // no event of the other tests goes there
    const { rows } = await h.kernel.asSystem((tx) =>
      tx.query<{ id: string }>(
        `insert into webhook_deliveries (tenant_id, webhook_id, event_id, event_type, payload, enqueued) values ($1, $2, gen_random_uuid(), 'x.y', '{}', true) returning id`,
        [a.id, hook.id],
      ),
    );
    const attempt = deliverWebhook(h.kernel, { tenantId: a.id, deliveryId: rows[0]!.id }, { ...WORKER_SETTINGS.delivery, timeoutMs: 800 });
    await expect(Promise.race([attempt, new Promise((resolve) => setTimeout(() => resolve('still open after 5 s'), 5_000))])).rejects.toThrow(/within 800 ms/);
    const [delivery] = (await deliveries(hook.id)).filter((d) => d.attempts.length > 0);
    expect(delivery!.attempts[0]).toMatchObject({ status_code: null, error: 'no complete response within 800 ms' });
  });
});

describe('delivery', () => {
  beforeAll(async () => {
    await worker();
  });

  it('delivers a signed event that an independent Standard Webhooks verifier accepts', async () => {
    const { receiver: r, url } = await receiver();
    const hook = await endpoint(url);
    const project = await h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Hooked' } });
    const [request] = await r.waitFor(1);
    const event = new Webhook(hook.secret).verify(request!.body, request!.headers as Record<string, string>) as { type: string; data: { id: string } };
    expect(event.type).toBe('project.created');
    expect(event.data).toEqual(project.body);
    expect(() => new Webhook(`whsec_${Buffer.from('x'.repeat(32)).toString('base64')}`).verify(request!.body, request!.headers as Record<string, string>)).toThrow();
    const [delivery] = await until(() => deliveries(hook.id), (d) => d[0]?.status === 'delivered');
    expect(delivery).toMatchObject({ status: 'delivered', event_id: request!.headers['webhook-id'], attempts: [{ attempt: 1, status_code: 204, error: null }] });
  });

  it('retries with backoff until the receiver recovers, keeping the webhook-id', async () => {
    const { receiver: r, url } = await receiver();
    r.respond = (_request, index) => (index < 2 ? 500 : 200);
    const hook = await endpoint(url);
    await h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Flaky' } });
    const requests = await r.waitFor(3);
    expect(new Set(requests.map((q) => q.headers['webhook-id'])).size).toBe(1);
    const [delivery] = await until(() => deliveries(hook.id), (d) => d[0]?.status === 'delivered');
    expect(delivery!.attempts.map((x) => x.status_code)).toEqual([500, 500, 200]);
  });

  it('marks a delivery failed after the last attempt; a retry by hand delivers it', async () => {
    const { receiver: r, url } = await receiver();
    let healthy = false;
    r.respond = () => (healthy ? 204 : 503);
    const hook = await endpoint(url);
    await h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Down' } });
    const [failed] = await until(() => deliveries(hook.id), (d) => d[0]?.status === 'failed');
    expect(failed!.attempts).toHaveLength(WORKER_SETTINGS.delivery.maxAttempts);
    const all = (await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`, { token: a.token })).body.data;
    healthy = true;
    const retry = await h.call('POST', `/v1/webhooks/${hook.id}/deliveries/${all[0].id}/retry`, { token: a.token });
    expect(retry.status).toBe(202);
    const [delivered] = await until(() => deliveries(hook.id), (d) => d[0]?.status === 'delivered');
    expect(delivered!.attempts.at(-1)!.status_code).toBe(204);
    expect((await h.call('POST', `/v1/webhooks/${hook.id}/deliveries/${all[0].id}/retry`, { token: a.token })).status).toBe(409);
  });

  it('sends a test ping to that endpoint only, and nothing to disabled endpoints', async () => {
    const one = await receiver();
    const two = await receiver();
    const off = await receiver();
    const first = await endpoint(one.url, ['*']);
    await endpoint(two.url, ['*']);
    // Created disabled (an endpoint for * created enabled hears about its own creation at once),
    // and one disabled later, before the event it subscribes to.
    const created = await h.call('POST', '/v1/webhooks', { token: a.token, body: { url: off.url, event_types: ['*'], enabled: false } });
    expect(created.status).toBe(201);
    const disabled = created.body as { id: string };
    const later = await endpoint(off.url, ['project.created']);
    expect((await h.call('PATCH', `/v1/webhooks/${later.id}`, { token: a.token, body: { enabled: false } })).status).toBe(200);
    const ping = await h.call('POST', `/v1/webhooks/${first.id}/test`, { token: a.token });
    expect(ping.status).toBe(202);
    // Endpoints subscribed to * also hear about webhooks being created and changed.
    const types = (r: Receiver) => r.received.map((q) => JSON.parse(q.body).type as string);
    await until(async () => types(one.receiver), (t) => t.includes('webhook.ping'));
    const request = one.receiver.received.find((q) => JSON.parse(q.body).type === 'webhook.ping')!;
    expect(JSON.parse(request.body)).toMatchObject({ type: 'webhook.ping', data: { webhook_id: first.id } });
    expect(request.headers['webhook-id']).toBe(ping.body.event_id);
    await h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Everyone' } });
    await until(async () => types(two.receiver), (t) => t.includes('project.created'));
    await until(async () => types(one.receiver), (t) => t.includes('project.created'));
    expect(types(two.receiver)).not.toContain('webhook.ping');
    expect(off.receiver.received).toHaveLength(0);
    expect((await h.call('POST', `/v1/webhooks/${disabled.id}/test`, { token: a.token })).status).toBe(409);
  });

  it('signs with the new and the previous secret during a rotation', async () => {
    const { receiver: r, url } = await receiver();
    const hook = await endpoint(url, ['*']);
    const rotated = await h.call('POST', `/v1/webhooks/${hook.id}/rotate-secret`, { token: a.token });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(hook.secret);
    await h.call('POST', `/v1/webhooks/${hook.id}/test`, { token: a.token });
    await until(async () => r.received, (q) => q.some((x) => JSON.parse(x.body).type === 'webhook.ping'));
    const request = r.received.find((x) => JSON.parse(x.body).type === 'webhook.ping');
    const headers = request!.headers as Record<string, string>;
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(rotated.body.secret).verify(request!.body, headers)).not.toThrow();
    expect(() => new Webhook(hook.secret).verify(request!.body, headers)).not.toThrow();
  });

  it('never lets one tenant see another tenant’s deliveries', async () => {
    const b = await h.tenant('Globex');
    const { url } = await receiver();
    const hook = await endpoint(url, ['*']);
    expect((await h.call('GET', `/v1/webhooks/${hook.id}/deliveries`, { token: b.token })).status).toBe(404);
    expect((await h.call('POST', `/v1/webhooks/${hook.id}/test`, { token: b.token })).status).toBe(404);
    expect((await h.call('POST', `/v1/webhooks/${hook.id}/rotate-secret`, { token: b.token })).status).toBe(404);
  });

  it('two workers running together deliver each event exactly once', async () => {
    await worker();
    const { receiver: r, url } = await receiver();
    await endpoint(url);
    const count = 12;
    await Promise.all(Array.from({ length: count }, (_, i) => h.call('POST', '/v1/projects', { token: a.token, body: { name: `parallel ${i}` } })));
    await r.waitFor(count);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const ids = r.received.map((q) => q.headers['webhook-id']);
    expect(ids).toHaveLength(count);
    expect(new Set(ids).size).toBe(count);
  });
});

describe('a worker killed mid-delivery', () => {
  it('leaves the event to be delivered later, with the same webhook-id', async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-process.ts'], {
      env: { ...process.env, ROWGUARD_TEST_OWNER_URL: db.ownerUrl, ROWGUARD_TEST_APP_URL: db.appUrl, ROWGUARD_TEST_SYSTEM_ROLE: TEST_ROLES.system },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => String(d).includes('ready') && resolve()));
    const { receiver: r, url } = await receiver();
    r.respond = (_request, index) => (index === 0 ? 'hang' : 204);
    const hook = await endpoint(url);
    await h.call('POST', '/v1/projects', { token: a.token, body: { name: 'Crash' } });
    await r.waitFor(1);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await worker();
    const requests = await r.waitFor(2, 30_000);
    expect(requests[1]!.headers['webhook-id']).toBe(requests[0]!.headers['webhook-id']);
    const [delivery] = await until(() => deliveries(hook.id), (d) => d[0]?.status === 'delivered', 30_000);
    expect(delivery!.status).toBe('delivered');
  });
});

describe('scheduled maintenance', () => {
  it('purges expired idempotency keys and prunes old finished deliveries, on a schedule', async () => {
    await h.kernel.asSystem(async (tx) => {
      await tx.query(`insert into idempotency_keys (tenant_id, principal, key, fingerprint, status_code, response_body, expires_at) values ($1, 'user:u', 'old', 'f', 201, '{}', now() - interval '1 minute'), ($1, 'user:u', 'fresh', 'f', 201, '{}', now() + interval '1 hour')`, [a.id]);
      await tx.query(`update webhook_deliveries set created_at = now() - interval '40 days' where tenant_id = $1 and status = 'delivered'`, [a.id]);
    });
    expect(await purgeIdempotencyKeys(h.kernel)).toBeGreaterThanOrEqual(1);
    const keys = await h.kernel.asSystem((tx) => tx.query('select key from idempotency_keys where tenant_id = $1', [a.id]));
    expect(keys.rows.map((k) => k.key)).toContain('fresh');
    expect(keys.rows.map((k) => k.key)).not.toContain('old');
    expect(await pruneDeliveries(h.kernel, 30)).toBeGreaterThan(0);
    const owner = await db.ownerClient();
    const schedules = await owner.query('select name, cron from pgboss.schedule order by name');
    expect(schedules.rows).toEqual([
      { name: 'prune-deliveries', cron: '17 3 * * *' },
      { name: 'purge-idempotency-keys', cron: '*/10 * * * *' },
      { name: 'repair-shard-policies', cron: '* * * * *' },
      { name: 'sync-record-views', cron: '* * * * *' },
    ]);
  });
});

describe('record types and records', () => {
  it('a new type gets its view from the worker at once, and record.<type>.created reaches a subscribed endpoint', async () => {
    if (workers.length === 0) await worker();
    const { receiver: r, url } = await receiver();
    await endpoint(url, ['record.ticket.created']);
    const type = await h.call('POST', '/v1/record-types', { token: a.token, body: { name: 'ticket', fields: [{ name: 'title', kind: 'text', required: true }] } });
    expect(type.status).toBe(201);
    const record = await h.call('POST', '/v1/records/ticket', { token: a.token, body: { data: { title: 'Printer on fire' } } });
    const [request] = await r.waitFor(1);
    expect(JSON.parse(request!.body)).toMatchObject({ type: 'record.ticket.created', data: { id: record.body.id, type: 'ticket', data: { title: 'Printer on fire' } } });
    const owner = await db.ownerClient();
    // Made on the relay's word, well before the minute's scheduled run.
    const views = await until(
      async () => (await owner.query(`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'v'`, [`tenant_${a.id.replace(/-/g, '')}`])).rows,
      (rows) => rows.length > 0,
      10_000,
    );
    expect(views).toEqual([{ relname: 'ticket' }]);
  });
});
