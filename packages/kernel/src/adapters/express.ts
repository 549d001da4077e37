/**
 * The Express middleware: one tenant transaction per request on `res.locals.tx`, committed
 * before a successful response leaves and rolled back for an error, a 4xx/5xx response or a
 * closed connection.
 *
 * @module @rowguard/kernel/express
 */
import type { Request, RequestHandler, Response } from 'express';
import type { Kernel } from '../db/kernel.js';
import { isUuid, parseTenantId } from '../db/tenant-id.js';
import type { Transaction } from '../db/transaction.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** The request's tenant transaction: opens at its first statement, ends with the response. */
      tx: Transaction;
      /** The request's tenant id, as `tenantOf` returned it, in lower case. */
      tenantId: string;
    }
  }
}

/** What `tenantMiddleware` needs: the kernel, and how to tell a request's tenant. */
export interface TenantMiddlewareOptions {
  /** The kernel whose `holdTenant` opens each request's transaction. */
  kernel: Kernel;
  /**
   * Verifies the caller and returns its tenant id (a UUID), from your own session or token
   * check, or `jwtTenant(...)` of `@rowguard/kernel/jwt`. Throw an error with a `status`
   * (401, 403) to refuse the request.
   */
  tenantOf: (request: Request) => string | Promise<string>;
}

/**
 * One tenant transaction per request (`res.locals.tx`), ended before the first byte of the
 * response leaves: its status decides, committed below 400, rolled back otherwise — an error
 * passed to `next` or thrown (Express 5 catches rejected handlers), a 4xx/5xx the handler
 * sent, or a client that went away first. Express has no hook between the handler and the
 * response, so the middleware holds the response's first write until the transaction ended;
 * a commit that fails turns the response into a 500, never a success that did not persist.
 * Nothing is checked out before the handler's first statement; a streamed response ends the
 * transaction at its first chunk.
 *
 * @param options - the kernel, and `tenantOf`, which returns the caller's tenant or throws
 * @example
 * import { tenantMiddleware } from '@rowguard/kernel/express';
 * app.use('/api', tenantMiddleware({ kernel, tenantOf: async (req) => (await verify(req.headers.authorization)).tenantId }));
 * app.get('/api/notes', async (req, res) => res.json((await res.locals.tx.query('select id, title from notes')).rows));
 */
export function tenantMiddleware({ kernel, tenantOf }: TenantMiddlewareOptions): RequestHandler {
  return async (req, res, next) => {
    let claimed: string;
    try {
      claimed = await tenantOf(req);
    } catch (error) {
      return next(error);
    }
    // A credential naming no valid tenant is the client's mistake, not a server error.
    if (!isUuid(claimed)) return next(Object.assign(new Error('the credential names no valid tenant'), { status: 401 }));
    const held = kernel.holdTenant(parseTenantId(claimed));
    res.locals.tenantId = parseTenantId(claimed);
    // Handlers get the statements only: ending the transaction is the middleware's alone.
    res.locals.tx = { query: (text, values, options) => held.query(text, values, options) };
    holdResponseUntilEnded(res, (commit) => held.end(commit));
    // A client gone before the response finished: roll back now (a later statement fails).
    res.on('close', () => {
      if (!res.writableFinished) void held.end(false).catch(() => undefined);
    });
    next();
  };
}

/**
 * Defers the response's writes until `end` settled, in order; `end` is called once, with the
 * status the response has at its first write.
 */
function holdResponseUntilEnded(res: Response, end: (commit: boolean) => Promise<void>): void {
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const finish = res.end.bind(res) as (...args: unknown[]) => Response;
  let ended: Promise<boolean> | undefined;
  const settle = () =>
    (ended ??= end(res.statusCode < 400).then(
      () => true,
      () => {
        // The commit failed: nothing of the response has left yet, so it becomes a 500.
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.statusCode = 500;
        finish('Internal Server Error');
        return false;
      },
    ));
  res.write = ((...args: unknown[]) => {
    void settle().then((ok) => ok && write(...args));
    return true;
  }) as Response['write'];
  res.end = ((...args: unknown[]) => {
    void settle().then((ok) => ok && finish(...args));
    return res;
  }) as Response['end'];
}
