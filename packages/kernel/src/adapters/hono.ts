/**
 * The Hono middleware: one tenant transaction per request, committed with a successful response
 * and rolled back for a thrown error, a 4xx/5xx response or an aborted client.
 *
 * @module @rowguard/kernel/hono
 */
import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Kernel } from '../db/kernel.js';
import { isUuid, parseTenantId } from '../db/tenant-id.js';
import type { Transaction } from '../db/transaction.js';

/** What the middleware gives handlers: `c.var.tx` and `c.var.tenantId`. */
export interface TenantVariables {
  /** The request's tenant transaction: opens at its first statement, ends with the response. */
  tx: Transaction;
  /** The request's tenant id, as `tenantOf` returned it, in lower case. */
  tenantId: string;
}

/** What `tenantMiddleware` needs: the kernel, and how to tell a request's tenant. */
export interface TenantMiddlewareOptions {
  /** The kernel whose `holdTenant` opens each request's transaction. */
  kernel: Kernel;
  /**
   * Verifies the caller and returns its tenant id (a UUID), from your own session or token
   * check, or `jwtTenant(...)` of `@rowguard/kernel/jwt`. Throw an `HTTPException` (401, 403)
   * to refuse the request.
   */
  tenantOf: (c: Context) => string | Promise<string>;
}

/**
 * One tenant transaction per request, ended by the response: committed for a 1xx–3xx
 * response, rolled back for anything else — an error the handler threw (which Hono has
 * already turned into a response when `next()` returns), a 4xx/5xx it returned, or a client
 * that went away before the response was ready. A commit that fails is thrown, so the client
 * gets an error, never a success that did not persist.
 *
 * Nothing is checked out of the pool until the handler's first statement, so routes that do
 * no database work hold no connection. A streaming response ends the transaction when its
 * headers are ready, not when the stream does: do the database work before returning the
 * stream (a statement from inside the stream is `TRANSACTION_CLOSED`).
 *
 * @param options - the kernel, and `tenantOf`, which returns the caller's tenant or throws
 * @example
 * import { tenantMiddleware, type TenantVariables } from '@rowguard/kernel/hono';
 * const app = new Hono<{ Variables: TenantVariables }>();
 * app.use('/api/*', tenantMiddleware({ kernel, tenantOf: async (c) => (await verify(c.req.header('authorization'))).tenantId }));
 * app.get('/api/notes', async (c) => c.json((await c.var.tx.query('select id, title from notes')).rows));
 */
export function tenantMiddleware({ kernel, tenantOf }: TenantMiddlewareOptions): MiddlewareHandler<{
  /** `c.var.tx` and `c.var.tenantId` for the routes behind it. */
  Variables: TenantVariables;
}> {
  return async (c, next) => {
    const claimed = await tenantOf(c);
    // A credential naming no valid tenant is the client's mistake, not a server error.
    if (!isUuid(claimed)) throw new HTTPException(401, { message: 'the credential names no valid tenant' });
    const tenantId = parseTenantId(claimed);
    const held = kernel.holdTenant(tenantId);
    c.set('tenantId', tenantId);
    // Handlers get the statements only: ending the transaction is the middleware's alone.
    c.set('tx', { query: (text, values, options) => held.query(text, values, options) });
    try {
      await next();
    } catch (error) {
      await held.end(false);
      throw error;
    }
    const succeeded = c.error === undefined && c.res.status < 400 && !c.req.raw.signal.aborted;
    await held.end(succeeded);
  };
}
