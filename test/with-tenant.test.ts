import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel, type Transaction } from '../packages/kernel/src/db/kernel.js';
import { TEST_ROLES } from './helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

let db: TestDatabase;
let kernel: Kernel;
let appPool: pg.Pool;
let systemPool: pg.Pool;
const tenants = Array.from({ length: 20 }, () => randomUUID());

async function createTenants(ids: string[]) {
  await kernel.asSystem(async (tx) => {
    for (const id of ids) {
      await tx.query('insert into tenants (id, name) values ($1, $2)', [id, `t-${id.slice(0, 6)}`]);
      for (let i = 0; i < 3; i++) await tx.query('insert into projects (tenant_id, name) values ($1, $2)', [id, `p${i}`]);
    }
  });
}

const projectTenants = (tx: Transaction) =>
  tx.query('select distinct tenant_id::text as t from projects').then((r) => r.rows.map((row) => row.t as string));

// Every notice the server sends on an app connection: the kernel's protocol use must draw none
// (no "SET LOCAL can only be used in transaction blocks", no "no transaction in progress").
const notices: string[] = [];
const collectNotices = (pool: pg.Pool) => pool.on('connect', (client) => client.on('notice', (n) => notices.push(n.message ?? '')));

beforeAll(async () => {
  db = await createTestDatabase();
  ({ kernel, appPool, systemPool } = db.kernel({ appPoolSize: 2 }));
  collectNotices(appPool);
  await createTenants(tenants);
});
afterAll(() => db.close());

describe('withTenant', () => {
  it('sees only the tenant’s own rows, with no filter in the query', async () => {
    for (const tenant of tenants.slice(0, 3)) {
      expect(await kernel.withTenant(tenant, projectTenants)).toEqual([tenant]);
    }
  });

  it('rejects an id that is not a UUID before touching the database', async () => {
    for (const bad of ["x' or true --", '', '00000000-0000-0000-0000-00000000000g', '{}']) {
      await expect(kernel.withTenant(bad, async () => 1)).rejects.toMatchObject({ code: 'INVALID_TENANT_ID' });
      await expect(kernel.tenantQuery(bad, 'select 1')).rejects.toMatchObject({ code: 'INVALID_TENANT_ID' });
    }
    expect(appPool.totalCount - appPool.idleCount).toBe(0);
  });

  it('commits when the function returns and rolls back when it throws', async () => {
    const tenant = tenants[0]!;
    await kernel.withTenant(tenant, (tx) => tx.query("insert into projects (tenant_id, name) values ($1, 'kept')", [tenant]));
    await expect(
      kernel.withTenant(tenant, async (tx) => {
        await tx.query("insert into projects (tenant_id, name) values ($1, 'dropped')", [tenant]);
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    const names = await kernel.tenantQuery(tenant, "select name from projects where name in ('kept', 'dropped')");
    expect(names.rows).toEqual([{ name: 'kept' }]);
  });

  it('refuses further statements after one fails, and reports the rollback', async () => {
    const tenant = tenants[1]!;
    let second: unknown;
    const outcome = kernel.withTenant(tenant, async (tx) => {
      await tx.query("insert into projects (tenant_id, name) values ($1, 'half')", [tenant]);
      await tx.query('select 1/0').catch(() => undefined);
      second = await tx.query('select 1').catch((error: unknown) => error);
      return 'handler swallowed the error';
    });
    await expect(outcome).rejects.toMatchObject({ code: 'TRANSACTION_ABORTED' });
    expect(second).toMatchObject({ code: 'TRANSACTION_ABORTED' });
    expect((await kernel.tenantQuery(tenant, "select 1 from projects where name = 'half'")).rowCount).toBe(0);
  });

  it('refuses a transaction object used after its function returned', async () => {
    let leaked: { query: (text: string) => Promise<unknown> } | undefined;
    await kernel.withTenant(tenants[0]!, async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.query('select 1')).rejects.toMatchObject({ code: 'TRANSACTION_CLOSED' });
  });

  it.each(['BEGIN', 'commit', '  /* x */ ROLLBACK', 'end', "set app.tenant_id = 'x'", "SET LOCAL app.tenant_id = 'x'", 'set role rowguard_test_system', 'reset all', 'discard all', 'set session authorization default'])(
    'refuses %s inside the transaction',
    async (statement) => {
      await expect(kernel.withTenant(tenants[0]!, (tx) => tx.query(statement))).rejects.toMatchObject({ code: 'STATEMENT_NOT_ALLOWED' });
    },
  );

  it('allows SET LOCAL of ordinary settings and savepoints', async () => {
    const result = await kernel.withTenant(tenants[0]!, async (tx) => {
      await tx.query("set local statement_timeout = '5s'");
      await tx.query('savepoint s1');
      await tx.query('rollback to savepoint s1');
      return (await tx.query('show statement_timeout')).rows[0];
    });
    expect(result).toEqual({ statement_timeout: '5s' });
  });

  it('leaves nothing on the pooled connection: context is gone after commit, rollback and error', async () => {
    const tenant = tenants[2]!;
    await kernel.withTenant(tenant, (tx) => tx.query('select 1'));
    await kernel.withTenant(tenant, (tx) => tx.query('select 1/0')).catch(() => undefined);
    await kernel.withTenant(tenant, async (tx) => {
      await tx.query('select 1');
      throw new Error('x');
    }).catch(() => undefined);
    // Check every connection the pool holds, bypassing the kernel on purpose.
    const clients = await Promise.all([appPool.connect(), appPool.connect()]);
    try {
      for (const client of clients) {
        const { rows } = await client.query("select coalesce(current_setting('app.tenant_id', true), '') as t, (select count(*)::int from projects) as n");
        expect(rows[0]).toEqual({ t: '', n: 0 });
      }
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  it('recovers from a connection killed mid-transaction without leaking its context', async () => {
    const tenant = tenants[3]!;
    const owner = await db.ownerClient();
    const failure = await kernel
      .withTenant(tenant, async (tx) => {
        const { rows } = await tx.query('select pg_backend_pid() as pid');
        await owner.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
        await tx.query('select 1');
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    // Later work on the same pool is correct.
    for (const other of tenants.slice(4, 8)) expect(await kernel.withTenant(other, projectTenants)).toEqual([other]);
  });

  it('keeps 200 interleaved transactions on 2 connections apart, some throwing midway', async () => {
    const seen = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const tenant = tenants[i % tenants.length]!;
        try {
          return await kernel.withTenant(tenant, async (tx) => {
            const first = await projectTenants(tx);
            await new Promise((resolve) => setTimeout(resolve, i % 3));
            if (i % 7 === 0) throw new Error('midway');
            if (i % 11 === 0) await tx.query('select 1/0');
            const second = await projectTenants(tx);
            return { tenant, rows: [...first, ...second] };
          });
        } catch {
          return { tenant, rows: [tenant] };
        }
      }),
    );
    for (const { tenant, rows } of seen) expect(new Set(rows)).toEqual(new Set([tenant]));
    expect(seen).toHaveLength(200);
  });
});

describe("rowMode 'array'", () => {
  // Two columns named `name`: as objects the second hides the first (node-postgres keeps one
  // key), as arrays both are there, in column order, parsed with the same type parsers.
  const text = `select name, upper(name) as name, created_at from projects where name like 'p%' order by 1`;

  it('returns every column of a row in order, also when names repeat, prepared or not', async () => {
    const tenant = tenants[11]!;
    const { kernel: unprepared } = db.kernel({ appPoolSize: 1, prepare: false });
    for (const k of [kernel, unprepared]) {
      const { rows, fields } = await k.withTenant(tenant, (tx) => tx.query<unknown[]>(text, [], { rowMode: 'array' }));
      expect(fields.map((f) => f.name)).toEqual(['name', 'name', 'created_at']);
      expect(rows.map((row) => row.slice(0, 2))).toEqual([['p0', 'P0'], ['p1', 'P1'], ['p2', 'P2']]);
      expect(rows[0]![2]).toBeInstanceOf(Date);
      const objects = await k.withTenant(tenant, (tx) => tx.query(text));
      expect(objects.rows[0]).toEqual({ name: 'P0', created_at: expect.any(Date) });
    }
  });

  it('parses with the statement’s own type parsers when given (`types`, as node-postgres)', async () => {
    const asText = { getTypeParser: () => (value: string) => `text:${value}` };
    const { rows } = await kernel.withTenant(tenants[11]!, (tx) => tx.query<unknown[]>('select 1::int, true', [], { rowMode: 'array', types: asText }));
    expect(rows).toEqual([['text:1', 'text:t']]);
    expect((await kernel.withTenant(tenants[11]!, (tx) => tx.query('select 1::int as n'))).rows).toEqual([{ n: 1 }]);
  });

  it('applies to its own statement only, including the one that commits', async () => {
    const tenant = tenants[12]!;
    const tx = kernel.holdTenant(tenant);
    tx.prepend('select count(*)::int as n from projects', [], ({ rows }) => expect(rows).toEqual([{ n: 3 }]));
    expect((await tx.query<unknown[]>('select 1 as a, 2 as a', [], { rowMode: 'array' })).rows).toEqual([[1, 2]]);
    expect((await tx.query('select 1 as a, 2 as b')).rows).toEqual([{ a: 1, b: 2 }]);
    expect((await tx.last<unknown[]>(text, [], { rowMode: 'array' })).rows).toHaveLength(3);
  });
});

describe('statements issued together (Promise.all)', () => {
  it('run one after another on the connection, each with its own result', async () => {
    // node-postgres queues a query sent to a busy client only under a deprecation (removed in
    // pg 9): count the statements handed to the connection and not yet answered.
    const { kernel: watched, appPool: pool } = db.kernel({ appPoolSize: 1 });
    let busy = 0;
    let most = 0;
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (q: unknown) => unknown;
      (client as unknown as { query: (q: unknown) => unknown }).query = (q) => {
        most = Math.max(most, ++busy);
        void (q as { done: Promise<unknown> }).done.finally(() => busy--).catch(() => undefined);
        return query(q);
      };
    });
    const results = await watched.withTenant(tenants[13]!, (tx) => Promise.all(Array.from({ length: 10 }, (_, i) => tx.query('select $1::int as i, count(*)::int as n from projects', [i]))));
    expect(results.map((r) => r.rows[0])).toEqual(Array.from({ length: 10 }, (_, i) => ({ i, n: 3 })));
    expect(most).toBe(1);
  });

  it('after one fails, the ones queued behind it are refused as aborted, and nothing commits', async () => {
    const tenant = tenants[14]!;
    const outcomes = await kernel
      .withTenant(tenant, (tx) =>
        Promise.allSettled([
          tx.query("insert into projects (tenant_id, name) values ($1, 'queued')", [tenant]),
          tx.query('select 1/0'),
          tx.query("insert into projects (tenant_id, name) values ($1, 'after')", [tenant]),
        ]),
      )
      .catch((error: unknown) => error);
    expect(outcomes).toMatchObject({ code: 'TRANSACTION_ABORTED' });
    expect((await kernel.tenantQuery(tenant, "select count(*)::int as n from projects where name in ('queued', 'after')")).rows).toEqual([{ n: 0 }]);
  });
});

describe('tenantQuery', () => {
  it('runs one statement in the tenant’s scope and commits it', async () => {
    const tenant = tenants[5]!;
    const inserted = await kernel.tenantQuery<{ id: string }>(tenant, "insert into projects (tenant_id, name) values ($1, 'single') returning id", [tenant]);
    expect(inserted.rowCount).toBe(1);
    const read = await kernel.tenantQuery(tenant, 'select name from projects where id = $1', [inserted.rows[0]!.id]);
    expect(read.rows).toEqual([{ name: 'single' }]);
  });

  it('rolls back a failed statement and leaves the connection clean', async () => {
    const tenant = tenants[6]!;
    await expect(kernel.tenantQuery(tenant, 'insert into projects (tenant_id, name) values ($1, $2)', [tenants[7], 'foreign'])).rejects.toMatchObject({ code: '42501' });
    expect(await kernel.withTenant(tenant, projectTenants)).toEqual([tenant]);
  });

  it('reuses prepared statements and survives errors in a freshly prepared one', async () => {
    const tenant = tenants[8]!;
    for (let i = 0; i < 5; i++) {
      // Unique violation on the second use of each name: the statement stays valid.
      await kernel.tenantQuery(tenant, "insert into team_members (tenant_id, user_id, email, role) values ($1, $2, $3, 'member')", [tenant, `u${i}`, `u${i}@x.test`]);
      await expect(
        kernel.tenantQuery(tenant, "insert into team_members (tenant_id, user_id, email, role) values ($1, $2, $3, 'member')", [tenant, `u${i}`, `u${i}@x.test`]),
      ).rejects.toMatchObject({ code: '23505' });
    }
    // A statement text this connection has never prepared, failing on its first two runs.
    const statement = `select count(*)::int as n from team_members where user_id like 'u%' /* ${randomUUID()} */`;
    await expect(kernel.tenantQuery(tenant, statement + ' and 1/0 = 1')).rejects.toMatchObject({ code: '22012' });
    await expect(kernel.tenantQuery(tenant, statement + ' and 1/0 = 1')).rejects.toMatchObject({ code: '22012' });
    expect((await kernel.tenantQuery(tenant, statement)).rows).toEqual([{ n: 5 }]);
  });

  it('evicts prepared statements beyond the cache size without breaking', async () => {
    const { kernel: small } = db.kernel({ appPoolSize: 1, statementCacheSize: 3 });
    for (let i = 0; i < 20; i++) {
      const { rows } = await small.tenantQuery(tenants[9]!, `select ${i} as i, count(*)::int as n from projects`);
      expect(rows).toEqual([{ i, n: 3 }]);
    }
  });

  it('works without prepared statements too', async () => {
    const { kernel: unprepared } = db.kernel({ appPoolSize: 1, prepare: false });
    expect(await unprepared.withTenant(tenants[10]!, projectTenants)).toEqual([tenants[10]]);
    expect((await unprepared.tenantQuery(tenants[10]!, 'select count(*)::int as n from projects')).rows).toEqual([{ n: 3 }]);
  });
});

describe("tenantContext 'set-config'", () => {
  it('scopes, commits, rolls back and leaves the connection clean, like the default', async () => {
    const { kernel: k, appPool: pool } = db.kernel({ appPoolSize: 1 });
    collectNotices(pool);
    const scoped = createKernel({ appPool: pool, systemPool: db.kernel().systemPool, systemRole: TEST_ROLES.system, tenantContext: 'set-config', contextKey: db.contextKey });
    const tenant = tenants[11]!;
    expect(await scoped.withTenant(tenant, projectTenants)).toEqual([tenant]);
    expect((await scoped.tenantQuery(tenant, 'select distinct tenant_id::text as t from projects')).rows).toEqual([{ t: tenant }]);
    const inserted = await scoped.tenantQuery(tenant, "insert into projects (tenant_id, name) values ($1, 'implicit') returning id", [tenant]);
    expect(await k.tenantQuery(tenant, 'select name from projects where id = $1', [inserted.rows[0]!.id]).then((r) => r.rows)).toEqual([{ name: 'implicit' }]);
    await expect(scoped.tenantQuery(tenant, 'insert into projects (tenant_id, name) values ($1, $2)', [tenants[12], 'foreign'])).rejects.toMatchObject({ code: '42501' });
    await expect(scoped.tenantQuery(tenant, "insert into projects (tenant_id, name) values ($1, 'x') returning 1/0", [tenant])).rejects.toMatchObject({ code: '22012' });
    const client = await pool.connect();
    try {
      const { rows } = await client.query("select coalesce(current_setting('app.tenant_id', true), '') as t, (select count(*)::int from projects) as n");
      expect(rows[0]).toEqual({ t: '', n: 0 });
    } finally {
      client.release();
    }
    expect((await k.tenantQuery(tenant, "select count(*)::int as n from projects where name = 'x'")).rows).toEqual([{ n: 0 }]);
  });
});

describe('asSystem', () => {
  it('crosses tenants, as the system role', async () => {
    const { rows } = await kernel.asSystem((tx) => tx.query('select current_user as who, count(distinct tenant_id)::int as n from projects'));
    expect(rows[0]).toEqual({ who: TEST_ROLES.system, n: tenants.length });
  });

  it('leaves the system connection as it found it: role, settings and writes are gone after commit and error', async () => {
    await kernel.asSystem((tx) => tx.query("set local statement_timeout = '7s'"));
    const dropped = randomUUID();
    await kernel
      .asSystem(async (tx) => {
        await tx.query("set local statement_timeout = '7s'");
        await tx.query("insert into tenants (id, name) values ($1, 'dropped')", [dropped]);
        throw new Error('handler failed');
      })
      .catch(() => undefined);
    // Check every connection the system pool holds, bypassing the kernel on purpose: a
    // transaction left open would still be in the system role with the local setting.
    const clients = await Promise.all([systemPool.connect(), systemPool.connect()]);
    try {
      for (const client of clients) {
        const { rows } = await client.query("select current_user as who, current_setting('statement_timeout') as timeout");
        expect(rows[0]).toEqual({ who: TEST_ROLES.owner, timeout: '0' });
      }
    } finally {
      clients.forEach((c) => c.release());
    }
    // Read back in a transaction of its own: a committed tenant is there, the thrown one is not.
    const { rows } = await kernel.asSystem((tx) => tx.query('select id::text from tenants where id = any($1::uuid[])', [[dropped, tenants[0]]]));
    expect(rows).toEqual([{ id: tenants[0] }]);
  });
});

describe('on the wire', () => {
  it('no statement above drew a warning or notice from the server', () => {
    expect(notices).toEqual([]);
  });
});
