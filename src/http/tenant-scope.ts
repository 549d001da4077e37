import type { Context } from 'hono';
import type { Kernel, Transaction } from '../db/kernel.js';
import { authorize, loadPrincipal, type Permission, type Principal } from './auth/principal.js';
import type { AppEnv } from './env.js';
import { IdempotentReplay } from './middleware/idempotency.js';

export interface Scope {
  tx: Transaction;
  principal: Principal;
  requestId: string;
}

export type InTenant = <T>(c: Context<AppEnv>, needed: Permission, fn: (scope: Scope) => Promise<T>) => Promise<T>;

/**
 * Every tenant handler runs through this: one transaction scoped to the tenant named by the
 * verified credential, in which membership and permission are checked first.
 */
export function createTenantScope(kernel: Kernel): InTenant {
  return (c, needed, fn) => {
    // Inside an Idempotency-Key request the transaction is already open, principal loaded.
    const open = c.get('tx');
    if (open) {
      const principal = c.get('principal');
      authorize(principal, needed);
      // Authorized like a fresh request: only now may a stored response be replayed.
      const stored = c.get('replay');
      if (stored) throw new IdempotentReplay(stored);
      return fn({ tx: open, principal, requestId: c.get('requestId') });
    }
    const credential = c.get('credential');
    return kernel.withTenant(credential.tenantId, async (tx) => {
      const principal = await loadPrincipal(tx, credential);
      authorize(principal, needed);
      c.set('principal', principal);
      return fn({ tx, principal, requestId: c.get('requestId') });
    });
  };
}
