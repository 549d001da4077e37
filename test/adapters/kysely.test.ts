import { randomUUID } from 'node:crypto';
import type { Generated } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '@rowguard/kernel';
import { kyselyOn } from '@rowguard/kernel/kysely';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createNotesSchema } from '../helpers/own-schema.js';

// Kysely's view of helpers/own-schema.ts; the app connects as the app role.
interface DB {
  authors: { id: Generated<string>; tenant_id: Generated<string>; name: string };
  notes: { id: Generated<string>; tenant_id: Generated<string>; author_id: string; name: string; written_at: Generated<Date>; due: Generated<Date> };
}

let db: TestDatabase;
let kernel: Kernel;
const [a, b] = [randomUUID(), randomUUID()];
const seeded: Record<string, { author: string; note: string }> = {};
const authorNames = async (tenant: string) => (await kernel.withTenant(tenant, (tx) => kyselyOn<DB>(tx).selectFrom('authors').select('name').orderBy('name').execute())).map((r) => r.name);

beforeAll(async () => {
  db = await createTestDatabase();
  await createNotesSchema(db);
  ({ kernel } = db.kernel());
  for (const [tenant, who] of [[a, 'Ada'], [b, 'Bob']] as const) {
    seeded[tenant] = await kernel.withTenant(tenant, async (tx) => {
      const k = kyselyOn<DB>(tx);
      const author = await k.insertInto('authors').values({ name: who }).returning('id').executeTakeFirstOrThrow();
      const note = await k.insertInto('notes').values({ author_id: author.id, name: `${who}'s note` }).returning('id').executeTakeFirstOrThrow();
      return { author: author.id, note: note.id };
    });
  }
});
afterAll(() => db.close());

describe('kyselyOn(tx)', () => {
  it('joins within the tenant, with no tenant filter in the query', async () => {
    const rows = await kernel.withTenant(a, (tx) =>
      kyselyOn<DB>(tx).selectFrom('notes').innerJoin('authors', 'authors.id', 'notes.author_id').select(['notes.id as note_id', 'authors.id as author_id', 'notes.name as note', 'authors.name as author']).execute(),
    );
    expect(rows).toEqual([{ note_id: seeded[a]!.note, author_id: seeded[a]!.author, note: "Ada's note", author: 'Ada' }]);
  });

  it('cannot read, change or point at another tenant’s rows', async () => {
    await kernel.withTenant(b, async (tx) => {
      const k = kyselyOn<DB>(tx);
      expect(await k.selectFrom('notes').selectAll().where('id', '=', seeded[a]!.note).execute()).toEqual([]);
      expect((await k.updateTable('notes').set({ name: 'taken' }).where('id', '=', seeded[a]!.note).executeTakeFirst()).numUpdatedRows).toBe(0n);
      expect((await k.deleteFrom('authors').where('id', '=', seeded[a]!.author).executeTakeFirst()).numDeletedRows).toBe(0n);
      expect((await k.updateTable('notes').set({ name: 'renamed' }).where('id', '=', seeded[b]!.note).executeTakeFirst()).numUpdatedRows).toBe(1n);
    });
    await expect(kernel.withTenant(b, (tx) => kyselyOn<DB>(tx).insertInto('authors').values({ tenant_id: a, name: 'Mallory' }).execute())).rejects.toMatchObject({ code: '42501' });
    await expect(kernel.withTenant(b, (tx) => kyselyOn<DB>(tx).insertInto('notes').values({ author_id: seeded[a]!.author, name: 'x' }).execute())).rejects.toMatchObject({ code: '23503' });
    expect(await authorNames(a)).toEqual(['Ada']);
  });

  it('runs db.transaction() as a savepoint: kept when it resolves, undone when it throws, the outer work kept', async () => {
    const tenant = randomUUID();
    await kernel.withTenant(tenant, async (tx) => {
      const k = kyselyOn<DB>(tx);
      await k.insertInto('authors').values({ name: 'outer' }).execute();
      await k.transaction().execute((inner) => inner.insertInto('authors').values({ name: 'kept' }).execute());
      await expect(
        k.transaction().execute(async (inner) => {
          await inner.insertInto('authors').values({ name: 'undone' }).execute();
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
    });
    expect(await authorNames(tenant)).toEqual(['kept', 'outer']);
  });

  it('refuses a transaction that would change the isolation level, and a failed statement aborts everything', async () => {
    const tenant = randomUUID();
    await expect(kernel.withTenant(tenant, (tx) => kyselyOn<DB>(tx).transaction().setIsolationLevel('serializable').execute(async () => 1))).rejects.toMatchObject({ code: 'STATEMENT_NOT_ALLOWED' });
    await expect(
      kernel.withTenant(tenant, async (tx) => {
        const k = kyselyOn<DB>(tx);
        await k.insertInto('authors').values({ name: 'lost' }).execute();
        await k.transaction().execute((inner) => inner.insertInto('notes').values({ author_id: randomUUID(), name: 'orphan' }).execute());
      }),
    ).rejects.toMatchObject({ code: '23503' });
    expect(await authorNames(tenant)).toEqual([]);
  });
});
