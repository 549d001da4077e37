import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchFairly } from '../../src/jobs/fair-fetch.js';
import { startDispatcher } from '../../src/jobs/job-dispatcher.js';
import { createQueue, type PgBoss } from '../../src/jobs/queue.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

interface TestJob {
  tenantId: string;
  n: number;
}

let db: TestDatabase;
let boss: PgBoss;
let queues = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  boss = createQueue({ connectionString: db.ownerUrl });
  boss.on('error', () => undefined);
  await boss.start();
});
afterAll(async () => {
  await boss?.stop({ graceful: false, wait: true });
  await db.close();
});

/** A queue of its own, as the delivery queue is set up, holding `jobs` in that order. */
async function queueWith(jobs: [tenant: string, count: number][]): Promise<string> {
  const name = `fairness-${++queues}`;
  await boss.createQueue(name, { name, policy: 'stately', retryLimit: 5, retryDelay: 1, retryBackoff: true });
  let n = 0;
  for (const [tenantId, count] of jobs) {
    // One statement each: jobs queued by one statement share their creation time.
    for (let i = 0; i < count; i++) await boss.send(name, { tenantId, n: n++ }, { singletonKey: String(n) });
  }
  return name;
}

const tally = (jobs: { data: TestJob }[]) => jobs.reduce<Record<string, number>>((t, j) => ({ ...t, [j.data.tenantId]: (t[j.data.tenantId] ?? 0) + 1 }), {});

describe('fetchFairly', () => {
  it('hands a tenant no more than its share, and the next tenant’s job in the same fetch', async () => {
    const queue = await queueWith([['a', 50], ['b', 50], ['c', 1]]);
    const first = await fetchFairly<TestJob>(boss, queue, { limit: 32, share: 4, running: new Map() });
    expect(tally(first)).toEqual({ a: 4, b: 4, c: 1 });
    // a has 4 running, b 1: only b gets more, up to its share.
    const second = await fetchFairly<TestJob>(boss, queue, { limit: 32, share: 4, running: new Map([['a', 4], ['b', 1]]) });
    expect(tally(second)).toEqual({ b: 3 });
  });

  it('keeps the queue’s order within a tenant, and activates the jobs as pg-boss does', async () => {
    const queue = await queueWith([['a', 10]]);
    const jobs = await fetchFairly<TestJob>(boss, queue, { limit: 3, share: 10, running: new Map() });
    expect(jobs.map((j) => j.data.n)).toEqual([0, 1, 2]);
    const owner = await db.ownerClient();
    const { rows } = await owner.query(`select state, retry_count, started_on is not null as started from pgboss.job where name = $1 and id = any($2::uuid[])`, [queue, jobs.map((j) => j.id)]);
    expect(rows).toEqual(Array(3).fill({ state: 'active', retry_count: 0, started: true }));
    // Failing one with pg-boss: retried later, and the retry's fetch counts one retry.
    await boss.fail(queue, jobs[0]!.id, { message: 'down' });
    await owner.query(`update pgboss.job set start_after = now() - interval '1 second' where id = $1`, [jobs[0]!.id]);
    const again = await fetchFairly<TestJob>(boss, queue, { limit: 1, share: 10, running: new Map() });
    expect(again.map((j) => j.id)).toEqual([jobs[0]!.id]);
    expect((await owner.query(`select retry_count from pgboss.job where id = $1`, [jobs[0]!.id])).rows[0].retry_count).toBe(1);
  });
});

describe('the dispatcher', () => {
  it('never runs more than a tenant’s share at once, runs another tenant’s job meanwhile, and fills free slots without waiting for the poll', async () => {
    const queue = await queueWith([['slow', 12], ['other', 3]]);
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const dispatcher = startDispatcher<TestJob>({
      boss,
      queue,
      concurrency: 6,
      perTenant: 2,
      tenantOf: (job) => job.tenantId,
      pollingIntervalMs: 60_000, // any wait for the poll would outlast the test
      onError: (error) => {
        throw error;
      },
      run: async ({ data }) => {
        const now = (running.get(data.tenantId) ?? 0) + 1;
        running.set(data.tenantId, now);
        most.set(data.tenantId, Math.max(most.get(data.tenantId) ?? 0, now));
        order.push(data.tenantId);
        // The slow tenant's first jobs hang until the other tenant's jobs have all run.
        if (data.tenantId === 'slow' && order.filter((t) => t === 'slow').length <= 2) await gate;
        else await new Promise((resolve) => setTimeout(resolve, 5));
        running.set(data.tenantId, running.get(data.tenantId)! - 1);
        if (order.filter((t) => t === 'other').length === 3 && running.get('other') === 0) release();
      },
    });
    const owner = await db.ownerClient();
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await owner.query<{ n: number }>(`select count(*)::int as n from pgboss.job where name = $1 and state = 'completed'`, [queue]);
      if (rows[0]!.n === 15 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await dispatcher.stop();
    expect(order.filter((t) => t === 'slow')).toHaveLength(12);
    expect(order.filter((t) => t === 'other')).toHaveLength(3);
    expect(most.get('slow')).toBe(2);
    expect(most.get('other')).toBe(2);
  });

  it('fails a job that throws, for the queue to retry', async () => {
    const queue = await queueWith([['a', 1]]);
    const dispatcher = startDispatcher<TestJob>({
      boss,
      queue,
      concurrency: 2,
      perTenant: 2,
      tenantOf: (job) => job.tenantId,
      pollingIntervalMs: 100,
      onError: () => undefined,
      run: async () => {
        throw new Error('endpoint down');
      },
    });
    const owner = await db.ownerClient();
    const deadline = Date.now() + 10_000;
    let state = '';
    while (state !== 'retry' && Date.now() < deadline) {
      state = (await owner.query(`select state from pgboss.job where name = $1`, [queue])).rows[0]?.state;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await dispatcher.stop();
    expect(state).toBe('retry');
  });
});
