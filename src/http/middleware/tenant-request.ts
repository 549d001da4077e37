import type { MiddlewareHandler } from 'hono';
import type { Kernel } from '../../db/kernel.js';
import { verifyCredential } from '../auth/authenticate.js';
import type { VerifiedUser } from '../auth/jwt-verifier.js';
import type { AppEnv } from '../context-variables.js';
import { idempotentRequest } from '../idempotency.js';
import { RequestScope } from '../request-scope.js';

/**
 * The tenant API's one middleware: credential → one scoped transaction → handler → response.
 * It verifies the credential, gives the handler its request scope (`c.var.scope`: a tenant
 * transaction that opens at the first statement, with the principal check and any
 * Idempotency-Key lookup riding ahead of it), and once the response is known ends that
 * transaction: rolled back for an error response, however the handler produced it (a thrown
 * error that became a response, or a 4xx/5xx it returned), committed otherwise.
 */
export function tenantRequest({
  kernel,
  verifyJwt,
  idempotencyTtlSeconds,
}: {
  kernel: Kernel;
  verifyJwt: ((token: string) => Promise<VerifiedUser>) | null;
  idempotencyTtlSeconds: number;
}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const credential = await verifyCredential(c, { kernel, verifyJwt });
    const idempotency = idempotentRequest(c, idempotencyTtlSeconds, () => c.get('oneTimeSecret') === true);
    const scope = new RequestScope(kernel.holdTenant(credential.tenantId), credential, c.get('requestId'), idempotency);
    c.set('scope', scope);
    await next();
    await scope.finish(c.res, c.error !== undefined);
  };
}

/**
 * Where the request scope looks its Idempotency-Key up: after the body and webhook-destination
 * checks (nothing opens the transaction before them) and before the route validates the
 * request, so that another request under the same key is 422 whatever it holds.
 */
export const idempotencyLookup = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  await c.var.scope.lookUpIdempotency();
  await next();
};
