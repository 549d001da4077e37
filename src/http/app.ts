import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import { problemResponse } from './problem.js';

export interface AppOptions {
  /** Resolves when both database pools answer. */
  ping: () => Promise<void>;
  log: Logger;
}

/** The HTTP service. Health endpoints now; the tenant API mounts here. */
export function createApp({ ping, log }: AppOptions): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    try {
      await ping();
      return c.json({ status: 'ready' });
    } catch (error) {
      log.warn({ err: error }, 'readiness check failed');
      return problemResponse(c, { status: 503, code: 'DATABASE_UNAVAILABLE', title: 'The database is not reachable' });
    }
  });

  app.notFound((c) => problemResponse(c, { status: 404, code: 'NOT_FOUND', title: 'No such resource' }));

  app.onError((error, c) => {
    const requestId = randomUUID();
    log.error({ err: error, requestId }, 'unhandled error');
    return problemResponse(c, { status: 500, code: 'INTERNAL', title: 'Internal error', requestId });
  });

  return app;
}
