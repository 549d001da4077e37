import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

// One tenant's slow transactions may hold at most maxConnectionsPerTenant pooled connections;
// the rest of the pool stays free for the other tenants.
let db: TestDatabase;
const [a, b] = [randomUUID(), randomUUID()];
let lockedProject: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const { kernel } = db.kernel({ appPoolSize: 1 });
  await kernel.asSystem((tx) => tx.query('insert into tenants (id, name) values ($1, $2), ($3, $4)', [a, 'Flooder', b, 'Bystander']));
  lockedProject = (await kernel.tenantQuery(a, `insert into projects (tenant_id, name) values ($1, 'locked') returning id`, [a])).rows[0]!.id;
});
afterAll(() => db.close());

describe('maxConnectionsPerTenant', () => {
  it('keeps a flooding tenant to its cap, queues the rest briefly, then refuses with TENANT_BUSY', async () => {
    const { kernel, appPool } = db.kernel({ appPoolSize: 4, maxConnectionsPerTenant: 2, tenantQueueTimeout: 400 });
    const owner = await db.ownerClient();
    await owner.query('begin');
    await owner.query(`set local role ${TEST_ROLES.system}`);
    await owner.query('select 1 from projects where id = $1 for update', [lockedProject]);

    // Six transactions of tenant A that wait on the lock.
    const flood = Array.from({ length: 6 }, () =>
      kernel.withTenant(a, (tx) => tx.query(`update projects set name = 'renamed' where id = $1`, [lockedProject])).then(
        () => 'done',
        (error: { code?: string }) => error.code,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(appPool.totalCount).toBeLessThanOrEqual(2);
    // Tenant B is served at once from the rest of the pool.
    expect((await kernel.tenantQuery(b, 'select count(*)::int as n from projects')).rows[0]!.n).toBe(0);
    await kernel.withTenant(b, (tx) => tx.query('select 1'));

    // The four queued beyond the cap give up after the queue timeout; the two holding connections finish.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await owner.query('rollback');
    const outcomes = await Promise.all(flood);
    expect(outcomes.filter((o) => o === 'TENANT_BUSY')).toHaveLength(4);
    expect(outcomes.filter((o) => o === 'done')).toHaveLength(2);
  });

  it('hands a freed slot to the tenant’s next waiter', async () => {
    const { kernel } = db.kernel({ appPoolSize: 4, maxConnectionsPerTenant: 1, tenantQueueTimeout: 5_000 });
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        kernel.withTenant(a, async (tx) => {
          await tx.query('select 1');
          most = Math.max(most, ++running);
          await tx.query('select pg_sleep(0.02)');
          running -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it('does not limit system transactions or transactions without a tenant', async () => {
    const { kernel } = db.kernel({ appPoolSize: 4, maxConnectionsPerTenant: 1, tenantQueueTimeout: 50 });
    const slow = (run: (fn: (tx: { query: (t: string) => Promise<unknown> }) => Promise<unknown>) => Promise<unknown>) =>
      Array.from({ length: 3 }, () => run((tx) => tx.query('select pg_sleep(0.2)')));
    await expect(Promise.all([...slow((fn) => kernel.asSystem(fn)), ...slow((fn) => kernel.withoutTenant(fn))])).resolves.toHaveLength(6);
  });
});
