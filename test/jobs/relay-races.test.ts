import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type Worker } from '../../src/jobs/worker.js';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness, type Harness, type TestTenant } from '../helpers/http.js';
import { Receiver } from '../helpers/receiver.js';
import { WORKER_SETTINGS } from '../helpers/worker-settings.js';

let db: TestDatabase;
let h: Harness;
let worker: Worker | undefined;
const receivers: Receiver[] = [];
/** Every warning and error the worker logs. */
const problems: { level: number; msg: string; err?: { message: string } }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  h = createHarness(db, { app: { allowPrivateDestinations: true } });
});
afterAll(async () => {
  await worker?.stop();
  await Promise.all(receivers.map((r) => r.stop()));
  await db.close();
});

async function receiver(): Promise<{ receiver: Receiver; url: string }> {
  const r = new Receiver();
  receivers.push(r);
  return { receiver: r, url: await r.start() };
}

async function call(t: TestTenant, method: string, path: string, body?: unknown) {
  return h.call(method, path, { token: t.token, body });
}

describe('the outbox relay while another tenant creates and deletes webhooks', () => {
  it('never fails, and every event of the other tenant gets its delivery', async () => {
    const log = pino({ level: 'warn' }, new Writable({ write: (line, _encoding, done) => (problems.push(JSON.parse(String(line))), done()) }));
    const { kernel, systemPool } = db.kernel();
    worker = await startWorker({ kernel, ownerPool: systemPool, ownerUrl: db.ownerUrl, log, ...WORKER_SETTINGS });

    const churner = await h.tenant('Churn');
    const steady = await h.tenant('Steady');
    const elsewhere = await receiver();
    const mine = await receiver();
    expect((await call(steady, 'POST', '/v1/webhooks', { url: mine.url, event_types: ['project.created'] })).status).toBe(201);

    // The churning tenant's own writes put its events in the relay's batches, so the relay
    // joins its webhooks while they are being deleted.
    let churning = true;
    const churn = async () => {
      let rounds = 0;
      while (churning) {
        const created = await call(churner, 'POST', '/v1/webhooks', { url: elsewhere.url, event_types: ['*'] });
        expect(created.status).toBe(201);
        await call(churner, 'POST', '/v1/projects', { name: `churn ${rounds++}` });
        expect((await call(churner, 'DELETE', `/v1/webhooks/${created.body.id}`)).status).toBe(204);
      }
      return rounds;
    };
    const loops = Array.from({ length: 4 }, churn);

    const count = 150;
    const ids = new Set<string>();
    for (let i = 0; i < count; i++) {
      const project = await call(steady, 'POST', '/v1/projects', { name: `steady ${i}` });
      expect(project.status).toBe(201);
      ids.add(project.body.id);
    }
    churning = false;
    const rounds = (await Promise.all(loops)).reduce((a, b) => a + b, 0);
    expect(rounds).toBeGreaterThan(50);

    const relayErrors = () => problems.filter((p) => /relay/.test(p.msg)).map((p) => p.err?.message ?? p.msg);
    expect(relayErrors()).toEqual([]);
    await mine.receiver.waitFor(count, 30_000);
    const delivered = new Set(mine.receiver.received.map((q) => (JSON.parse(q.body) as { data: { id: string } }).data.id));
    expect(delivered).toEqual(ids);
    // Events passed over while their endpoint was being deleted are relayed on a later run.
    const owner = await db.ownerClient();
    const unrelayed = async () => (await owner.query<{ n: number }>('select count(*)::int as n from outbox_events where relayed_at is null')).rows[0]!.n;
    const deadline = Date.now() + 10_000;
    while ((await unrelayed()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await unrelayed()).toBe(0);
    expect(relayErrors()).toEqual([]);
  });

  // Deleting an endpoint deletes its deliveries (on delete cascade), row by row in an order of
  // its own; the relay marking those deliveries queued, in another order, made a deadlock
  // (seen once in 40 runs of the test above). Marking skips a delivery being deleted.
  it('does not wait for the delete of an endpoint whose deliveries it marks queued', async () => {
    const { kernel, systemPool } = db.kernel();
    worker ??= await startWorker({ kernel, ownerPool: systemPool, ownerUrl: db.ownerUrl, log: pino({ level: 'silent' }), ...WORKER_SETTINGS });
    const t = await h.tenant('Deleting');
    const { url } = await receiver();
    const hook = await call(t, 'POST', '/v1/webhooks', { url, event_types: ['project.created'] });
    for (let i = 0; i < 3; i++) await call(t, 'POST', '/v1/projects', { name: `p${i}` });
    await worker.relay();
    // The deliveries as a stopped run leaves them: created, not yet marked queued.
    await kernel.asSystem((tx) => tx.query('update webhook_deliveries set enqueued = false where tenant_id = $1', [t.id]));
    const deleting = await db.ownerClient();
    await deleting.query('begin');
    await deleting.query(`set local role ${TEST_ROLES.system}`);
    await deleting.query('delete from webhooks where tenant_id = $1 and id = $2', [t.id, hook.body.id]);
    try {
      const outcome = await Promise.race([worker.relay().then(() => 'done'), new Promise((resolve) => setTimeout(() => resolve('waited'), 3_000))]);
      expect(outcome).toBe('done');
    } finally {
      await deleting.query('rollback');
    }
  });
});
