import type { Context } from 'hono';
import { isUuid } from '@rowguard/kernel';
import { notFound } from './problem.js';

/** A UUID path parameter, lower-cased. Anything else names nothing: 404, like another tenant's id. */
export function pathId(c: Context, name = 'id'): string {
  const value = c.req.param(name);
  if (!isUuid(value)) throw notFound();
  return value.toLowerCase();
}
