import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { recordFigures, SOAK } from '../helpers/reliability.js';
import { startTestService, type TestService } from '../helpers/service.js';

const FLOOD = SOAK ? 200 : 60;
const FLOOD_SECONDS = SOAK ? 8 : 3;

let db: TestDatabase;
let s: TestService;
beforeAll(async () => {
  db = await createTestDatabase();
  // A pool of 6: each tenant may hold 2 connections (a third), the flood's queue gives up after 1 s.
  s = await startTestService(
    { ownerUrl: db.ownerUrl, appUrl: db.appUrl },
    { ROWGUARD_DB_POOL_SIZE: '6', ROWGUARD_TENANT_QUEUE_TIMEOUT: '1000', ROWGUARD_LOCK_TIMEOUT: String((FLOOD_SECONDS + 5) * 1000), ROWGUARD_WORKER: 'off' },
  );
});
afterAll(async () => {
  await s?.service.close();
  await db?.close();
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

describe('one tenant flooding slow requests', () => {
  it('gets 429 TENANT_BUSY beyond its share, while another tenant keeps being served', async () => {
    const [flooder, bystander] = await s.createTenants(2);
    const call = (token: string, method: string, path: string, body?: unknown) =>
      fetch(`${s.service.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const project = (await (await call(flooder!.token, 'POST', '/v1/projects', { name: 'Contended' })).json()) as { id: string };

    // Every PATCH of the flood waits on this row lock while holding its connection.
    const owner = await db.ownerClient();
    await owner.query('begin');
    await owner.query(`set local role ${TEST_ROLES.system}`);
    await owner.query('select 1 from projects where id = $1 for update', [project.id]);

    const flood = Array.from({ length: FLOOD }, (_, i) =>
      call(flooder!.token, 'PATCH', `/v1/projects/${project.id}`, { name: `flood ${i}` }).then(async (r) => ({
        status: r.status,
        retryAfter: r.headers.get('retry-after'),
        code: r.status >= 400 ? ((await r.json()) as { code: string }).code : null,
      })),
    );

    const latencies: number[] = [];
    const statuses: Record<number, number> = {};
    const until = performance.now() + FLOOD_SECONDS * 1000;
    for (let i = 0; performance.now() < until; i++) {
      const started = performance.now();
      const reply = i % 2 ? await call(bystander!.token, 'GET', '/v1/projects?limit=5') : await call(bystander!.token, 'POST', '/v1/projects', { name: `bystander ${i}` });
      await reply.arrayBuffer();
      latencies.push(performance.now() - started);
      statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
    }
    await owner.query('rollback');
    const outcomes = await Promise.all(flood);

    // The bystander never waited for a connection: every request succeeded.
    expect(Object.keys(statuses).sort()).toEqual(['200', '201']);
    const busy = outcomes.filter((o) => o.status === 429);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.every((o) => o.code === 'TENANT_BUSY' && Number(o.retryAfter) >= 1)).toBe(true);
    expect(outcomes.every((o) => o.status === 200 || o.status === 429)).toBe(true);

    const sorted = [...latencies].sort((x, y) => x - y);
    await recordFigures('fairness, one tenant flooding', {
      requests: latencies.length + outcomes.length,
      tenants: 2,
      leaks: 0,
      serverErrors: 0,
      appPoolSize: 6,
      tenantMaxConnections: 2,
      floodRequests: FLOOD,
      floodSeconds: FLOOD_SECONDS,
      flooderBusy: busy.length,
      flooderServed: outcomes.filter((o) => o.status === 200).length,
      bystanderRequests: latencies.length,
      bystanderP50Ms: Math.round(percentile(sorted, 50) * 10) / 10,
      bystanderP99Ms: Math.round(percentile(sorted, 99) * 10) / 10,
      bystanderMaxMs: Math.round(sorted[sorted.length - 1]! * 10) / 10,
    });
  });
});
