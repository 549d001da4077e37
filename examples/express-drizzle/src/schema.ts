import { sql } from 'drizzle-orm';
import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

// The tables of migrations/. tenant_id defaults to the transaction's tenant (as the migration
// sets it), so inserts leave it out.
const tenantId = () => uuid('tenant_id').notNull().default(sql`nullif(current_setting('app.tenant_id', true), '')::uuid`);
export const authors = pgTable('authors', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: tenantId(),
  name: text('name').notNull(),
});

export const notes = pgTable('notes', {
  id: uuid('id').primaryKey().defaultRandom(),
  tenantId: tenantId(),
  authorId: uuid('author_id').notNull(),
  title: text('title').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
