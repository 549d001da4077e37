/**
 * Drizzle (its node-postgres driver) on a scoped transaction, with array rows so joins whose
 * columns share a name map right.
 *
 * @module @rowguard/kernel/drizzle
 */
import type { DrizzleConfig } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { Transaction } from '../db/transaction.js';
import { TenantContextError } from '../errors.js';

/**
 * Drizzle on a scoped transaction: every statement Drizzle sends runs in `tx`, under its
 * tenant, through the kernel's statement guard. Drizzle's node-postgres driver asks for rows
 * as arrays with its own type parsers (timestamps and dates as text, which its columns parse);
 * both reach the pipeline, so a join whose columns share a name maps every column right.
 *
 * Build one per transaction; it is a thin object over `tx`.
 *
 * @example
 * import { drizzleOn } from '@rowguard/kernel/drizzle';
 * const rows = await kernel.withTenant(tenantId, (tx) =>
 *   drizzleOn(tx, { schema }).select().from(notes).innerJoin(authors, eq(notes.authorId, authors.id)),
 * );
 */
export function drizzleOn<TSchema extends Record<string, unknown> = Record<string, never>>(tx: Transaction, config: DrizzleConfig<TSchema> = {}): NodePgDatabase<TSchema> {
  const client = {
    query(query: string | pg.QueryConfig, values?: unknown[]) {
      const { text, rowMode, types } = typeof query === 'string' ? { text: query, rowMode: undefined, types: undefined } : (query as pg.QueryArrayConfig);
      if (/^\s*begin\b/i.test(text)) {
        throw new TenantContextError(
          'STATEMENT_NOT_ALLOWED',
          'db.transaction() inside a tenant transaction: the statements already run in one transaction, which commits or rolls back as a whole; run them on this db directly',
        );
      }
      return tx.query(text, values ?? (typeof query === 'string' ? undefined : query.values), { rowMode, types });
    },
  };
  return drizzle({ ...config, client: client as unknown as pg.Pool });
}
