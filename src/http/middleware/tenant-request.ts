import type { MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import type { Kernel } from '@rowguard/kernel';
import { verifyCredential } from '../auth/authenticate.js';
import type { VerifiedUser } from '../auth/jwt-verifier.js';
import type { AppEnv } from '../context-variables.js';
import { idempotentRequest } from '../idempotency.js';
import { RequestScope } from '../request-scope.js';

/** Behind the checks: the Idempotency-Key's lookup, then the route. */
async function handle(scope: RequestScope, next: () => Promise<void>): Promise<void> {
  await scope.lookUpIdempotency();
  await next();
}

/**
 * The tenant API's one middleware: credential → one scoped transaction → handler → response.
 * It verifies the credential, gives the handler its request scope (`c.get('scope')`: a tenant
 * transaction that opens at the first statement, with the principal check riding ahead of
 * it), runs the request checks that need no database (body, webhook destination: a DNS
 * answer must never hold a pooled connection), looks up an Idempotency-Key before the route
 * validates the request (another request under the same key is 422 whatever it holds), and
 * once the response is known ends the transaction: rolled back for an error response,
 * however the handler or a check produced it, committed otherwise.
 */
export function tenantRequest({
  kernel,
  verifyJwt,
  idempotencyTtlSeconds,
  bodyChecks,
}: {
  kernel: Kernel;
  verifyJwt: ((token: string) => Promise<VerifiedUser>) | null;
  idempotencyTtlSeconds: number;
  /**
   * Checks of a request body (POST, PUT, PATCH), run in order after the credential, before
   * anything can open the transaction. Requests without a body skip them, and their cost.
   */
  bodyChecks: MiddlewareHandler<AppEnv>[];
}): MiddlewareHandler<AppEnv> {
  const checked = every(...bodyChecks);
  // The permission the check records must reach wherever the policies run: set_config's, inlined
  // into the statement, stays on this server (plain PostgreSQL); on Citus, SET LOCAL's.
  const userCheck = kernel.tenantContext === 'set-config' ? 'rowguard.check_user' : 'rowguard.enter_as_user';
  return async (c, next) => {
    const credential = await verifyCredential(c, { kernel, verifyJwt });
    const idempotency = idempotentRequest(c, idempotencyTtlSeconds, () => c.get('oneTimeSecret') === true);
    const scope = new RequestScope(kernel.holdTenant(credential.tenantId), credential, c.get('requestId'), idempotency, userCheck);
    c.set('scope', scope);
    let failed = true;
    try {
      const method = c.req.method;
      if (method === 'POST' || method === 'PATCH' || method === 'PUT') await checked(c, () => handle(scope, next));
      else await handle(scope, next);
      failed = c.error !== undefined;
    } finally {
      await scope.finish(c.res, failed);
    }
  };
}
