import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type Worker, type WorkerOptions } from '../../src/jobs/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness, type Harness, type TestTenant } from '../helpers/http.js';
import { BlackHole, Receiver } from '../helpers/receiver.js';
import { recordFigures, SOAK } from '../helpers/reliability.js';

/**
 * The worker's own defaults (polling interval, concurrency, per-tenant share), so the figures
 * are the ones a deployment gets; only the deadline and retries are shortened.
 */
const TIMEOUT_MS = 2_000;
const SETTINGS: Pick<WorkerOptions, 'delivery' | 'retryDelaySeconds' | 'deliveryRetentionDays'> = {
  delivery: { timeoutMs: TIMEOUT_MS, maxAttempts: 3, allowPrivate: true },
  retryDelaySeconds: 1,
  deliveryRetentionDays: 30,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function useDatabase() {
  const context = { workers: [] as Worker[], stops: [] as (() => Promise<void>)[] } as { db: TestDatabase; h: Harness; workers: Worker[]; stops: (() => Promise<void>)[] };
  beforeAll(async () => {
    context.db = await createTestDatabase();
    context.h = createHarness(context.db, { app: { allowPrivateDestinations: true } });
  });
  afterAll(async () => {
    await Promise.all(context.workers.map((w) => w.stop()));
    await Promise.all(context.stops.map((stop) => stop()));
    await context.db?.close();
  });
  return context;
}

async function startDeliveryWorker(context: ReturnType<typeof useDatabase>): Promise<Worker> {
  const { kernel, systemPool } = context.db.kernel({ appPoolSize: 8 });
  const worker = await startWorker({ kernel, ownerPool: systemPool, ownerUrl: context.db.ownerUrl, log: pino({ level: process.env.WORKER_LOG ?? 'silent' }), ...SETTINGS });
  context.workers.push(worker);
  return worker;
}

async function endpoint(h: Harness, t: TestTenant, url: string, eventTypes: string[]): Promise<void> {
  const reply = await h.call('POST', '/v1/webhooks', { token: t.token, body: { url, event_types: eventTypes } });
  expect(reply.status).toBe(201);
}

/** `count` project.created events for tenant `t`, made through the API, `parallel` at a time. */
async function projects(h: Harness, t: TestTenant, count: number, parallel = 20): Promise<void> {
  for (let i = 0; i < count; i += parallel) {
    const replies = await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, (_, j) => h.call('POST', '/v1/projects', { token: t.token, body: { name: `p ${i + j}` } })));
    for (const reply of replies) expect(reply.status).toBe(201);
  }
}

describe('a dribbling endpoint and a flood to a dark host', () => {
  const context = useDatabase();

  it('do not hold up another tenant’s delivery, and the dribbling connections are closed at the deadline', async () => {
    const { h } = context;
    const [a, b, c] = [await h.tenant('Dribbling'), await h.tenant('Flooding'), await h.tenant('Bystander')];
    const dribbler = new Receiver();
    dribbler.respond = () => 'dribble';
    dribbler.dribbleMs = 500; // an idle timeout above 500 ms would never fire
    const hole = new BlackHole();
    const fast = new Receiver();
    context.stops.push(() => dribbler.stop(), () => hole.stop(), () => fast.stop());
    await endpoint(h, a, await dribbler.start(), ['project.created']);
    await endpoint(h, b, await hole.start(), ['*']);
    await endpoint(h, c, await fast.start(), ['project.created']);

    await startDeliveryWorker(context);
    const dribbled = 8;
    const flood = SOAK ? 1_000 : 200;
    await projects(h, a, dribbled);
    await projects(h, b, flood);
    // Both hold deliveries open before the bystander's event exists (the dark host as soon as
    // it gets a slot at all).
    await until('the dribbling endpoint to hold deliveries', () => dribbler.received.length >= 4);
    await until('the dark host to hold deliveries', () => hole.accepted >= 4, 10_000).catch(() => undefined);
    const heldWhenSent = { dribbling: dribbler.openConnections(), dark: hole.open };

    const sent = performance.now();
    await projects(h, c, 1);
    const [request] = await fast.waitFor(1, 30_000);
    const latencyMs = request!.at - sent;
    // Bound: well under one deadline of every stuck delivery queued ahead of it (200 × 2 s).
    expect(latencyMs).toBeLessThan(10_000);

    await until('the dribbling connections to close', () => dribbler.connectionLifetimes.length >= 4);
    const lifetimes = [...dribbler.connectionLifetimes].sort((x, y) => x - y);
    expect(lifetimes.at(-1)!).toBeLessThan(TIMEOUT_MS + 1_500);

    await recordFigures('webhooks, fairness', {
      deadlineMs: TIMEOUT_MS,
      floodEvents: flood,
      dribblingDeliveries: dribbled,
      bystanderLatencyMs: Math.round(latencyMs),
      bystanderBoundMs: 10_000,
      dribblingConnectionsClosed: lifetimes.length,
      dribblingConnectionMedianMs: Math.round(lifetimes[Math.floor(lifetimes.length / 2)]!),
      dribblingConnectionMaxMs: Math.round(lifetimes.at(-1)!),
      dribblingConnectionsOpenWhenSent: heldWhenSent.dribbling,
      darkHostConnectionsOpenWhenSent: heldWhenSent.dark,
      dribblingConnectionsMostAtOnce: dribbler.maxOpen,
      darkHostConnectionsMostAtOnce: hole.maxOpen,
      darkHostAttempts: hole.accepted,
    });
  });
});

describe('throughput with a fast receiver', () => {
  const context = useDatabase();

  async function measure(name: string, tenants: number, perTenant: number) {
    const { h } = context;
    const fast = new Receiver();
    context.stops.push(() => fast.stop());
    const url = await fast.start();
    // Events first, with no worker running: the worker then starts on a full backlog.
    const list = await Promise.all(Array.from({ length: tenants }, (_, i) => h.tenant(`Busy ${name} ${i}`)));
    for (const t of list) await endpoint(h, t, url, ['project.created']);
    await Promise.all(list.map((t) => projects(h, t, perTenant, 10)));
    const total = tenants * perTenant;

    const started = performance.now();
    const worker = await startDeliveryWorker(context);
    const requests = await fast.waitFor(total, 60_000);
    const seconds = (performance.now() - started) / 1000;
    const steadySeconds = (requests.at(-1)!.at - requests[0]!.at) / 1000;
    await worker.stop();
    context.workers.splice(context.workers.indexOf(worker), 1);
    expect(new Set(requests.map((q) => q.headers['webhook-id'])).size).toBe(total);
    await recordFigures(`webhooks, throughput, ${name}`, {
      tenants,
      deliveries: total,
      seconds: Number(seconds.toFixed(2)),
      attemptsPerMinute: Math.round((total / seconds) * 60),
      steadyAttemptsPerMinute: Math.round((total / steadySeconds) * 60),
    });
  }

  it(`delivers ${SOAK ? 5_000 : 500} events of one tenant within a minute`, () => measure('one tenant', 1, SOAK ? 5_000 : 500), 120_000);

  it(`delivers ${SOAK ? 5_000 : 500} events of 10 tenants within a minute`, () => measure('ten tenants', 10, SOAK ? 500 : 50), 120_000);
});
