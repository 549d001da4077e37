import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AppEnv } from '../context-variables.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when it is sane), returns it in the
 * response, and logs one line per request: id, tenant, actor, route, status, latency.
 * Never the Authorization header or token contents.
 */
export function requestContext(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
    // A child logger per request would cost on every request what only a failing one needs:
    // error paths add the request id to their own line.
    c.set('requestId', requestId);
    c.set('log', log);
    // Every response made through the context carries it; the one made elsewhere (a replayed
    // Idempotency-Key response) sets it itself. Reading c.res.headers here would make the
    // Node adapter build a full web Response for every request.
    c.header('X-Request-Id', requestId);
    const started = performance.now();
    await next();
    // Below info (warn, silent) the line is never written: its fields are not gathered either.
    if (!log.isLevelEnabled('info')) return;
    const scope = c.get('scope');
    log.info(
      {
        requestId,
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        tenant: scope?.tenantId,
        actor: scope?.actor,
      },
      'request',
    );
  };
}
