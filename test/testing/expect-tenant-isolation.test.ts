import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '@rowguard/kernel';
import { expectTenantIsolation, IsolationError } from '@rowguard/testing';
import { TEST_ROLES } from '../helpers/cluster.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createNotesSchema } from '../helpers/own-schema.js';

// A team's own schema (helpers/own-schema.ts) in a database with nothing of the service.
let db: TestDatabase;
let kernel: Kernel;

const seed = (tenant: string, who: string) =>
  kernel.withTenant(tenant, async (tx) => {
    const { rows } = await tx.query<{ id: string }>('insert into authors (name) values ($1) returning id', [who]);
    await tx.query('insert into notes (author_id, name) values ($1, $2)', [rows[0]!.id, `${who}'s note`]);
    await tx.query('insert into labels (name) values ($1)', [who]);
  });

beforeAll(async () => {
  db = await createTestDatabase({ empty: true });
  await createNotesSchema(db);
  ({ kernel } = db.kernel());
});
afterAll(() => db.close());

describe('expectTenantIsolation', () => {
  it('refuses to pass on tables that hold no rows of two tenants: nothing was proven', async () => {
    await expect(expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl })).rejects.toMatchObject({ code: 'PROBE_INCOMPLETE', message: expect.stringMatching(/^nothing was probed/) });
    await expect(expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl, expectTables: 4 })).rejects.toMatchObject({ code: 'TENANT_TABLES_MISSING' });
  });

  it('passes on a schema whose tenant tables are isolated, with the reports', async () => {
    await seed(randomUUID(), 'Ada');
    await seed(randomUUID(), 'Bob');
    const { audit, probe } = await expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl, expectTables: 3, expectProbed: 3 });
    expect(audit.tenantTables).toBe(3);
    expect(audit.summary.error).toBe(0);
    expect(probe.results.filter((r) => r.kind === 'table').map((r) => [r.object, r.status])).toEqual([
      ['public.authors', 'pass'],
      ['public.labels', 'pass'],
      ['public.notes', 'pass'],
    ]);
  });

  it('fails, naming the table and what leaked, when one table is not protected', async () => {
    const owner = await db.ownerClient();
    await owner.query(`create table leaky (tenant_id uuid not null, secret text); grant select, insert, update, delete on leaky to ${TEST_ROLES.app}`);
    await owner.query(`insert into leaky values ($1, 'a'), ($2, 'b')`, [randomUUID(), randomUUID()]);
    const failure = await expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(IsolationError);
    const problems = (failure as IsolationError).problems;
    expect(problems.some((p) => /^public\.leaky: .*\[rls-disabled\]$/.test(p))).toBe(true);
    expect(problems.filter((p) => p.startsWith('public.leaky: ') && !p.endsWith(']')).length).toBeGreaterThan(0);
    expect(problems.every((p) => p.startsWith('public.leaky'))).toBe(true);
    expect((failure as IsolationError).message).toMatch(/^tenant isolation does not hold:\n {2}- public\.leaky/);
  });
});
