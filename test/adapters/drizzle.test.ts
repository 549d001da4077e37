import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { date, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drizzleOn } from '@rowguard/kernel/drizzle';
import type { Kernel } from '@rowguard/kernel';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createNotesSchema } from '../helpers/own-schema.js';

// Drizzle's view of helpers/own-schema.ts; the app connects as the app role.
const authors = pgTable('authors', { id: uuid('id').primaryKey().defaultRandom(), tenantId: uuid('tenant_id'), name: text('name').notNull() });
const notes = pgTable('notes', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: uuid('tenant_id'),
  authorId: uuid('author_id').notNull(),
  name: text('name').notNull(),
  writtenAt: timestamp('written_at').notNull(),
  // Drizzle's own parsers keep a date as its text: the statement's type parsers must reach the pipeline.
  due: date('due').notNull(),
});

let db: TestDatabase;
let kernel: Kernel;
const [a, b] = [randomUUID(), randomUUID()];
const seeded: Record<string, { author: string; note: string }> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  await createNotesSchema(db);
  ({ kernel } = db.kernel());
  for (const [tenant, who] of [[a, 'Ada'], [b, 'Bob']] as const) {
    seeded[tenant] = await kernel.withTenant(tenant, async (tx) => {
      const orm = drizzleOn(tx);
      const [author] = await orm.insert(authors).values({ name: who }).returning();
      const [note] = await orm.insert(notes).values({ authorId: author!.id, name: `${who}'s note`, writtenAt: new Date('2026-01-02T03:04:05Z'), due: '2026-02-03' }).returning();
      return { author: author!.id, note: note!.id };
    });
  }
});
afterAll(() => db.close());

describe('drizzleOn(tx)', () => {
  it('maps a join whose columns share names (id, name) to the right fields', async () => {
    const rows = await kernel.withTenant(a, (tx) => drizzleOn(tx).select().from(notes).innerJoin(authors, eq(notes.authorId, authors.id)));
    expect(rows).toEqual([
      {
        notes: { id: seeded[a]!.note, tenantId: a, authorId: seeded[a]!.author, name: "Ada's note", writtenAt: new Date('2026-01-02T03:04:05Z'), due: '2026-02-03' },
        authors: { id: seeded[a]!.author, tenantId: a, name: 'Ada' },
      },
    ]);
    const picked = await kernel.withTenant(a, (tx) =>
      drizzleOn(tx).select({ noteId: notes.id, authorId: authors.id, note: notes.name, author: authors.name }).from(notes).innerJoin(authors, eq(notes.authorId, authors.id)),
    );
    expect(picked).toEqual([{ noteId: seeded[a]!.note, authorId: seeded[a]!.author, note: "Ada's note", author: 'Ada' }]);
  });

  it('reads, joins and writes only inside the tenant, with no tenant filter in the query', async () => {
    await kernel.withTenant(b, async (tx) => {
      const orm = drizzleOn(tx);
      expect((await orm.select().from(notes)).map((n) => n.id)).toEqual([seeded[b]!.note]);
      // Another tenant's rows by id: the same answer as rows that do not exist.
      expect(await orm.select().from(notes).where(eq(notes.id, seeded[a]!.note))).toEqual([]);
      expect(await orm.select().from(authors).innerJoin(notes, eq(notes.authorId, authors.id)).where(eq(authors.id, seeded[a]!.author))).toEqual([]);
      expect(await orm.update(notes).set({ name: 'taken' }).where(eq(notes.id, seeded[a]!.note)).returning()).toEqual([]);
      expect(await orm.delete(authors).where(eq(authors.id, seeded[a]!.author)).returning()).toEqual([]);
    });
    // Writing a row for another tenant, or pointing at another tenant's author, is refused by the database.
    await expect(kernel.withTenant(b, (tx) => drizzleOn(tx).insert(authors).values({ tenantId: a, name: 'Mallory' }))).rejects.toMatchObject({ cause: expect.objectContaining({ code: '42501' }) });
    await expect(kernel.withTenant(b, (tx) => drizzleOn(tx).insert(notes).values({ authorId: seeded[a]!.author, name: 'x', writtenAt: new Date(), due: '2026-01-01' }))).rejects.toMatchObject({ cause: expect.objectContaining({ code: '23503' }) });
    expect(await kernel.withTenant(a, (tx) => drizzleOn(tx).select({ name: authors.name }).from(authors))).toEqual([{ name: 'Ada' }]);
  });

  it('runs raw SQL through db.execute as objects', async () => {
    const result = await kernel.withTenant(a, (tx) => drizzleOn(tx).execute('select count(*)::int as n from notes'));
    expect(result.rows).toEqual([{ n: 1 }]);
  });

  it('refuses db.transaction() with an error that says what to do, and rolls the whole transaction back', async () => {
    const attempt = kernel.withTenant(a, async (tx) => {
      const orm = drizzleOn(tx);
      await orm.insert(authors).values({ name: 'Never' });
      await orm.transaction(async (inner) => inner.insert(authors).values({ name: 'Inner' }));
    });
    // Drizzle wraps a driver's error as the cause of its own "Failed query".
    await expect(attempt).rejects.toMatchObject({ cause: expect.objectContaining({ code: 'STATEMENT_NOT_ALLOWED', message: expect.stringMatching(/run them on this db directly/) }) });
    expect((await kernel.withTenant(a, (tx) => drizzleOn(tx).select({ name: authors.name }).from(authors))).map((r) => r.name)).toEqual(['Ada']);
  });
});
