/**
 * The Fastify plugin: one tenant transaction per request on `request.tx`, ended before the reply
 * is sent, rolled back for an error, a 4xx/5xx reply or an aborted request.
 *
 * @module @rowguard/kernel/fastify
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Kernel } from '../db/kernel.js';
import { isUuid, parseTenantId } from '../db/tenant-id.js';
import type { HeldTransaction, Transaction } from '../db/transaction.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's tenant transaction: opens at its first statement, ends with the reply. */
    tx: Transaction;
    /** The request's tenant id, as `tenantOf` returned it, in lower case. */
    tenantId: string;
  }
}

/** What `tenantPlugin` needs: the kernel, and how to tell a request's tenant. */
export interface TenantPluginOptions {
  /** The kernel whose `holdTenant` opens each request's transaction. */
  kernel: Kernel;
  /**
   * Verifies the caller and returns its tenant id (a UUID), from your own session or token
   * check, or `jwtTenant(...)` of `@rowguard/kernel/jwt`. Throw an error with a `statusCode`
   * (401, 403) to refuse the request.
   */
  tenantOf: (request: FastifyRequest) => string | Promise<string>;
}

const HELD = Symbol('rowguard tenant transaction');
type WithHeld = FastifyRequest & { [HELD]?: HeldTransaction };

/**
 * One tenant transaction per request, for the routes of the context it is registered in,
 * ended before the reply is sent (`onSend`): committed for a status below 400, rolled back
 * for an error the handler threw, a 4xx/5xx it sent, or a client that went away
 * (`onRequestAbort`). A commit that fails becomes the error reply, never a success that did
 * not persist. Nothing is checked out of the pool before the handler's first statement; a
 * streamed reply ends the transaction before it streams.
 *
 * @example
 * import { tenantPlugin } from '@rowguard/kernel/fastify';
 * await app.register(tenantPlugin, { kernel, tenantOf: async (request) => (await verify(request.headers.authorization)).tenantId });
 * app.get('/notes', async (request) => (await request.tx.query('select id, title from notes')).rows);
 */
export const tenantPlugin: FastifyPluginAsync<TenantPluginOptions> = async (app, { kernel, tenantOf }) => {
  app.decorateRequest('tx', null as unknown as Transaction);
  app.decorateRequest('tenantId', '');
  const end = async (request: WithHeld, commit: boolean) => {
    const held = request[HELD];
    request[HELD] = undefined;
    await held?.end(commit);
  };
  app.addHook('onRequest', async (request: WithHeld) => {
    const claimed = await tenantOf(request);
    // A credential naming no valid tenant is the client's mistake, not a server error.
    if (!isUuid(claimed)) throw Object.assign(new Error('the credential names no valid tenant'), { statusCode: 401 });
    const held = kernel.holdTenant(parseTenantId(claimed));
    request[HELD] = held;
    request.tenantId = parseTenantId(claimed);
    // Handlers get the statements only: ending the transaction is the plugin's alone.
    request.tx = { query: (text, values, options) => held.query(text, values, options) };
  });
  app.addHook('onSend', async (request: WithHeld, reply, payload) => {
    await end(request, reply.statusCode < 400);
    return payload;
  });
  app.addHook('onRequestAbort', (request: WithHeld) => end(request, false));
  // Whatever path a reply took, nothing stays open after it.
  app.addHook('onResponse', (request: WithHeld) => end(request, false));
};
// Hooks apply to the context that registers the plugin, as fastify-plugin would arrange.
Object.assign(tenantPlugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'rowguard-tenant' });
