import type { Context } from 'hono';
import { HttpProblem } from './problem.js';

/** The version in If-Match ("3", W/"3"), or null for * or no header (last write wins). */
export function ifMatch(c: Context): number | null {
  const header = c.req.header('if-match');
  if (header === undefined || header.trim() === '*') return null;
  const match = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(header);
  if (!match) throw new HttpProblem('INVALID_IF_MATCH');
  return Number(match[1]);
}
