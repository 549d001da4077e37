import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../context-variables.js';
import { HttpProblem } from '../problem.js';

const JSON_TYPE = /^application\/([\w.+-]*\+)?json\s*(;|$)/i;

/**
 * For requests with a body: 415 unless it is JSON, 413 over `limit` bytes, 400 when it does
 * not parse. Schema validation comes after, per route.
 */
export function jsonBody({ limit }: { limit: number }): MiddlewareHandler<AppEnv> {
  const limitExceeded = (): never => {
    throw new HttpProblem('PAYLOAD_TOO_LARGE', `The body is larger than ${limit} bytes`);
  };
  const limited = bodyLimit({ maxSize: limit, onError: limitExceeded });
  return async (c, next) => {
    if (c.req.method !== 'POST' && c.req.method !== 'PATCH' && c.req.method !== 'PUT') return next();
    // A declared Content-Length is judged from the header: touching c.req.raw.body makes the
    // Node adapter build a whole web Request and stream for the request (about 0.1 ms of CPU,
    // measured). Without one (chunked, HTTP/2, in-process requests) the body is looked at and
    // counted as it is read.
    const length = c.req.header('content-length');
    const declared = length !== undefined && c.req.header('transfer-encoding') === undefined;
    if (declared ? length === '0' : c.req.raw.body === null) return next();
    const withinLimit = (run: () => Promise<void>) => (!declared ? limited(c, run) : Number(length) > limit ? limitExceeded() : run());
    if (c.req.header('content-type') === undefined) {
      // A body-less action (`curl -X POST …/suspend`) may still arrive with an empty chunked
      // body: read it (within the limit) and let it through when there is nothing in it.
      return withinLimit(async () => {
        if ((await c.req.text()).length > 0) throw new HttpProblem('UNSUPPORTED_MEDIA_TYPE');
        await next();
      });
    }
    if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      throw new HttpProblem('UNSUPPORTED_MEDIA_TYPE');
    }
    return withinLimit(async () => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch (error) {
        if (error instanceof HttpProblem) throw error;
        throw new HttpProblem('MALFORMED_JSON');
      }
      if (!wellFormed(body)) {
        throw new HttpProblem('MALFORMED_JSON', 'a string holds a lone UTF-16 surrogate (such as \\ud800), which no text column can store');
      }
      await next();
    });
  };
}

/**
 * JSON may escape half of a surrogate pair (`"\\ud800"`); PostgreSQL's UTF-8 text cannot hold
 * it, and the driver would silently store U+FFFD instead. Checks every string and key.
 */
function wellFormed(body: unknown): boolean {
  // Iterative: bodies may nest 100,000 levels deep, past the call stack.
  const pending: unknown[] = [body];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return false;
    } else if (Array.isArray(value)) {
      pending.push(...value);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) return false;
        pending.push(item);
      }
    }
  }
  return true;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
