import { RowguardError } from '../errors.js';

/**
 * Over its share: the tenant already holds its connections (`maxConnectionsPerTenant`) and
 * none freed up within `tenantQueueTimeout`. Answer it with 503 and a Retry-After.
 *
 * @example
 * ```ts
 * import { TenantBusyError } from '@rowguard/kernel';
 * try {
 *   return c.json((await kernel.tenantQuery(tenantId, 'select id, title from notes')).rows);
 * } catch (error) {
 *   if (!(error instanceof TenantBusyError)) throw error; // error.code === 'TENANT_BUSY'
 *   return c.json({ error: error.code }, 503, { 'retry-after': String(error.retryAfterSeconds) });
 * }
 * ```
 */
export class TenantBusyError extends RowguardError {
  constructor(
    message: string,
    /** Seconds after which a retry is likely to find a free slot. */
    readonly retryAfterSeconds: number,
  ) {
    super('TENANT_BUSY', message);
    this.name = 'TenantBusyError';
  }
}

/**
 * Caps the pooled connections one tenant holds at once, so a tenant flooding slow requests
 * cannot take the whole pool from the others. A transaction over the cap waits in its
 * tenant's own queue (holding no connection, and not ahead of other tenants in the pool's
 * queue) for at most `waitMs`, then fails with TENANT_BUSY. Counts are per process.
 */
export class TenantLimiter {
  private readonly held = new Map<string, number>();
  private readonly queues = new Map<string, (() => void)[]>();

  constructor(
    private readonly max: number,
    private readonly waitMs: number,
  ) {}

  /** Resolves with the function that gives the slot back (safe to call twice). */
  async acquire(tenantId: string): Promise<() => void> {
    const held = this.held.get(tenantId) ?? 0;
    if (held < this.max) {
      this.held.set(tenantId, held + 1);
    } else {
      await this.wait(tenantId);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(tenantId);
    };
  }

  private wait(tenantId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(tenantId) ?? [];
      this.queues.set(tenantId, queue);
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(granted), 1);
        if (queue.length === 0) this.queues.delete(tenantId);
        reject(new TenantBusyError(`the tenant already holds ${this.max} database connections; retry shortly`, Math.max(1, Math.ceil(this.waitMs / 1000))));
      }, this.waitMs);
      const granted = () => {
        clearTimeout(timer);
        resolve();
      };
      queue.push(granted);
    });
  }

  // A freed slot passes straight to the tenant's next waiter, so the count never drops in between.
  private release(tenantId: string): void {
    const queue = this.queues.get(tenantId);
    const next = queue?.shift();
    if (next) {
      if (queue!.length === 0) this.queues.delete(tenantId);
      next();
      return;
    }
    const held = (this.held.get(tenantId) ?? 1) - 1;
    if (held > 0) this.held.set(tenantId, held);
    else this.held.delete(tenantId);
  }
}
