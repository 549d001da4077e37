import { isUuid } from '../db/tenant-id.js';
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
  throw new HttpProblem(400, 'INVALID_CURSOR', 'The cursor is not one this API returned', undefined, [{ field: 'query.cursor', message: 'invalid cursor' }]);
}

/** SQL for the cursor column of a list query: created_at in UTC with all six fractional digits. */
export const CURSOR_COLUMN = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "_cursor"`;
