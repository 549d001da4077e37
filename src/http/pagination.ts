import { z } from '@hono/zod-openapi';
import { isUuid } from '@rowguard/kernel';
import { HttpProblem } from './problem.js';

/** Position after the last row of a page, in the list order (created_at desc, id desc). */
export interface Cursor {
  createdAt: string;
  id: string;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

// Opaque to clients. It holds only a position; the rows of a page are read under RLS, so a
// cursor made for one tenant shows another tenant nothing of the first.
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id])).toString('base64url');
}

export function decodeCursor(value: string): Cursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && TIMESTAMP.test(createdAt) && isUuid(id)) return { createdAt, id };
  } catch {
    // fall through
  }
  throw new HttpProblem('INVALID_CURSOR', undefined, [{ field: 'query.cursor', message: 'invalid cursor' }]);
}

/** The page parameters every list takes: at most 100 rows, 20 by default, and the cursor. */
export const pageParams = {
  limit: z.coerce.number().int().min(1).max(100).default(20).openapi({ description: 'Page size, at most 100' }),
  cursor: z.string().max(200).optional().openapi({ description: 'next_cursor of the previous page' }),
};

/**
 * Keyset pagination, newest first (created_at desc, id desc), for every list: resources,
 * webhook deliveries and the admin lists. `keyset` adds its bind values after the caller's
 * (the cursor's position, then limit + 1: one row more than the page tells whether another
 * follows) and returns the condition and the ORDER BY … LIMIT to put in the query, with the
 * cursor column to select; `pageOf` turns the rows into the page.
 */
export function keyset(page: { limit: number; cursor?: string }, values: unknown[], alias = ''): { after: string | null; column: string; orderAndLimit: string } {
  let after: string | null = null;
  if (page.cursor) {
    const position = decodeCursor(page.cursor);
    values.push(position.createdAt, position.id);
    after = `(${alias}created_at, ${alias}id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`;
  }
  values.push(page.limit + 1);
  return {
    after,
    // created_at in UTC with all six fractional digits: the position, exactly.
    column: `to_char(${alias}created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "_cursor"`,
    orderAndLimit: `order by ${alias}created_at desc, ${alias}id desc limit $${values.length}`,
  };
}

const withoutCursor = <T extends Record<string, unknown>>({ _cursor, ...rest }: T): Omit<T, '_cursor'> => rest;

/**
 * The page of `rows` (read with `keyset`), each row without the cursor column (or as `present`
 * shows it, which must drop that column), and the next cursor.
 */
export function pageOf<T extends Record<string, unknown>, P = Omit<T, '_cursor'>>(
  rows: T[],
  limit: number,
  idOf: (row: T) => unknown = (row) => row.id,
  present: (row: T) => P = withoutCursor as (row: T) => P,
): { data: P[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next = rows.length > limit && last ? encodeCursor({ createdAt: last._cursor as string, id: idOf(last) as string }) : null;
  return { data: page.map(present), next_cursor: next };
}
