import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../env.js';
import { HttpProblem } from '../problem.js';

const JSON_TYPE = /^application\/([\w.+-]*\+)?json\s*(;|$)/i;

/**
 * For requests with a body: 415 unless it is JSON, 413 over `limit` bytes, 400 when it does
 * not parse. Schema validation comes after, per route.
 */
export function jsonBody({ limit }: { limit: number }): MiddlewareHandler<AppEnv> {
  const limited = bodyLimit({
    maxSize: limit,
    onError: () => {
      throw new HttpProblem(413, 'PAYLOAD_TOO_LARGE', `The body is larger than ${limit} bytes`);
    },
  });
  return async (c, next) => {
    if (c.req.method !== 'POST' && c.req.method !== 'PATCH' && c.req.method !== 'PUT') return next();
    if (c.req.raw.body === null || c.req.header('content-length') === '0') return next();
    if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      throw new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
    }
    return limited(c, async () => {
      try {
        await c.req.json();
      } catch (error) {
        if (error instanceof HttpProblem) throw error;
        throw new HttpProblem(400, 'MALFORMED_JSON', 'The body is not valid JSON');
      }
      await next();
    });
  };
}
