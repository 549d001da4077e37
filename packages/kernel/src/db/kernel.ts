import type pg from 'pg';
import { quoteIdent, TENANT_SETTING } from './sql.js';
import { parseTenantId } from './tenant-id.js';
import type { PipelineStatement } from './pipeline.js';
import { contextProof, PROOF_SETTING } from './context-proof.js';
import { TenantLimiter } from './tenant-limiter.js';
import { ScopedTransaction, type AcquireSlot, type HeldTransaction, type Transaction, type TransactionOptions } from './transaction.js';

export type { HeldTransaction, QueryOptions, Transaction } from './transaction.js';

/** What `createKernel` needs: the two pools, and how tenant transactions are set up and limited. */
export interface KernelOptions {
  /** Pool connected as the restricted app role: all request traffic. */
  appPool: pg.Pool;
  /** Pool connected as a role that may SET ROLE to `systemRole` (the owner): workers and reports. */
  systemPool: pg.Pool;
  /** Role whose policies let it read and write across tenants. */
  systemRole?: string;
  /** Prepare statements by name per connection (turn off for PgBouncer older than 1.21). */
  prepare?: boolean;
  /**
   * How the tenant context is set. `set-local` (default): a `SET LOCAL` statement, the form
   * Citus propagates to worker nodes. `set-config`: a prepared `set_config($1, true)`, one
   * statement less per `tenantQuery` and faster on plain PostgreSQL; not for Citus.
   */
  tenantContext?: 'set-local' | 'set-config';
  /** Prepared statements kept per connection, least recently used dropped first (default 200). */
  statementCacheSize?: number;
  /**
   * Per-transaction limits in milliseconds, set with `SET LOCAL` semantics in every kernel
   * transaction (so they hold behind a transaction-mode pooler too). 0 or absent: the server's
   * or role's own setting applies. A statement that runs too long fails with SQLSTATE 57014,
   * a lock waited on too long with 55P03; either way the connection stays usable.
   */
  statementTimeout?: number;
  /** Milliseconds a statement may wait for a lock (lock_timeout); see `statementTimeout`. */
  lockTimeout?: number;
  /**
   * Milliseconds a transaction may sit idle between statements before the server ends its
   * session (idle_in_transaction_session_timeout, set per transaction): a handler stuck on
   * something other than the database frees its connection. 0 or absent: the server's setting.
   */
  idleInTransactionTimeout?: number;
  /**
   * At most this many pooled connections held by one tenant's transactions at once; more
   * wait in that tenant's own queue for up to `tenantQueueTimeout` ms, then fail with
   * `TENANT_BUSY`. Absent: no cap. Counted per kernel (per process).
   */
  maxConnectionsPerTenant?: number;
  /** Milliseconds a transaction waits in its tenant's queue before `TENANT_BUSY` (default 2000). */
  tenantQueueTimeout?: number;
  /**
   * The database's context key (`readContextKey` through the owner's connection): with it,
   * every tenant context carries its proof, which the signed policies of Rowguard's schema
   * require (`rowguard.tenant_id()`). Without it, policies that check proofs show nothing.
   */
  contextKey?: Uint8Array;
}

/**
 * The tenancy kernel `createKernel` returns: every way to run statements, each with its
 * tenant context (or, for `asSystem`, explicitly across tenants).
 */
export interface Kernel {
  /**
   * How this kernel sets the tenant context (`KernelOptions.tenantContext`): with `set-config`,
   * settings stay on the server they are sent to (plain PostgreSQL); with `set-local`, Citus
   * passes them on to its workers. A check that records settings of its own follows suit.
   *
   * @example
   * const check = kernel.tenantContext === 'set-config' ? 'rowguard.check_user' : 'rowguard.enter_as_user';
   */
  readonly tenantContext: 'set-local' | 'set-config';
  /**
   * Runs `fn` in one transaction scoped to `tenantId`: row-level security shows and accepts
   * only that tenant's rows. Commits when `fn` resolves, rolls back when it throws.
   *
   * @example
   * const open = await kernel.withTenant(tenantId, async (tx) => {
   *   const { rows } = await tx.query('select id, title from tasks where status = $1', ['todo']);
   *   return rows;
   * });
   */
  withTenant<T>(tenantId: string, fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * A transaction scoped to `tenantId` that its caller holds open across steps it does not
   * control, such as a request passing through middleware and handler. Nothing is sent (and
   * no connection taken) until its first statement; it ends with `last` or `end`, and the
   * caller must call one of them.
   *
   * @example
   * const tx = kernel.holdTenant(tenantId);
   * tx.prepend('select * from rowguard.enter_as_user($1, $2)', [userId, 'read']);
   * const { rows } = await tx.last('select * from projects where id = $1', [id]); // one round trip
   */
  holdTenant(tenantId: string): HeldTransaction;
  /**
   * One statement scoped to `tenantId`, in its own transaction, in a single network round trip
   * (BEGIN, SET LOCAL, the statement and COMMIT are sent together; with `tenantContext:
   * 'set-config'`, set_config and the statement).
   *
   * @example
   * const { rows } = await kernel.tenantQuery(tenantId, 'select * from projects where id = $1', [id]);
   */
  tenantQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(tenantId: string, text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * Runs `fn` as the system role, which crosses tenants. Only for workers, schedulers and
   * reports; request handlers use `withTenant`.
   *
   * @example
   * const due = await kernel.asSystem((tx) => tx.query('select tenant_id, id from invoices where due_date < now()'));
   */
  asSystem<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on the app pool with the tenant context explicitly empty: row-level security
   * shows no rows and rejects every write. Only for the lookups that must happen before a
   * tenant is known, through narrow SECURITY DEFINER functions such as API-key resolution.
   *
   * @example
   * const { rows } = await kernel.withoutTenant((tx) => tx.query('select * from rowguard.resolve_api_key($1)', [hash]));
   */
  withoutTenant<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * One statement as `withoutTenant` runs it, in a single round trip (the empty context and
   * the statement in one implicit transaction).
   *
   * @example
   * const { rows } = await kernel.queryWithoutTenant('select * from rowguard.resolve_api_key($1)', [hash]);
   */
  queryWithoutTenant<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * Resolves when both pools can reach the database (reads no table).
   *
   * @example
   * app.get('/health', async (c) => {
   *   await kernel.ping();
   *   return c.text('ok');
   * });
   */
  ping(): Promise<void>;
}

/**
 * The tenancy kernel. The app pool is reachable only through `withTenant` and `tenantQuery`,
 * so no statement on it runs without a tenant context.
 *
 * @param options - the pools, roles, context mode and limits
 * @example
 * ```ts
 * import { createKernel, createPool } from '@rowguard/kernel';
 * const kernel = createKernel({
 *   appPool: createPool({ connectionString: process.env.APP_URL!, applicationName: 'api' }),
 *   systemPool: createPool({ connectionString: process.env.OWNER_URL!, max: 2, applicationName: 'worker' }),
 *   systemRole: 'rowguard_system',
 * });
 * ```
 */
export function createKernel({
  appPool,
  systemPool,
  systemRole = 'rowguard_system',
  prepare = true,
  statementCacheSize = 200,
  tenantContext = 'set-local',
  statementTimeout = 0,
  lockTimeout = 0,
  idleInTransactionTimeout = 0,
  maxConnectionsPerTenant,
  tenantQueueTimeout = 2_000,
  contextKey,
}: KernelOptions): Kernel {
  const options: TransactionOptions = { prepare, statementCacheSize };
  const limiter = maxConnectionsPerTenant ? new TenantLimiter(maxConnectionsPerTenant, tenantQueueTimeout) : null;
  const slotFor = (tenantId: string): AcquireSlot | undefined => (limiter ? () => limiter.acquire(tenantId) : undefined);

  // Transaction-local settings as one prepared statement of set_config calls (is_local =
  // true), sent in the same round trip as BEGIN. The names are constants, so the text is the
  // same for every tenant: built once here, prepared once per connection.
  const setConfigText = (names: readonly string[]) => `select ${names.map((name, i) => `set_config('${name}', $${i + 1}, true)`).join(', ')}`;
  const limits = [
    ...(statementTimeout > 0 ? [['statement_timeout', `${Math.round(statementTimeout)}ms`] as const] : []),
    ...(lockTimeout > 0 ? [['lock_timeout', `${Math.round(lockTimeout)}ms`] as const] : []),
    ...(idleInTransactionTimeout > 0 ? [['idle_in_transaction_session_timeout', `${Math.round(idleInTransactionTimeout)}ms`] as const] : []),
  ];
  // The same limits as SET LOCAL statements: the form Citus sends on to the workers (a lock
  // wait there is bounded only by a lock_timeout set this way). The values are numbers from
  // the options, rounded, so inlining them is safe. Measured with pgbench, pipelined: no
  // slower than one statement of set_config calls.
  const setLocalLimits = limits.map(([name, value]) => ({ text: `SET LOCAL ${name} = '${value}'` }));
  const systemOpening = [{ text: 'BEGIN' }, { text: `SET LOCAL ROLE ${quoteIdent(systemRole)}` }, ...setLocalLimits];

  // The tenant context: the id (a validated canonical UUID, so inlining it in SET LOCAL is safe;
  // SET takes no bind parameters, and SET LOCAL, not set_config, is the form Citus propagates
  // to workers) and, with a context key, its proof, always a bind parameter. '' sets it
  // explicitly empty: nothing visible.
  const proofs = new Map<string, string>(); // an HMAC per transaction is ~4 µs; a tenant's proof never changes
  const proofOf = (id: string) => {
    let proof = proofs.get(id);
    if (proof === undefined) {
      if (proofs.size >= 10_000) proofs.clear();
      proof = contextProof(contextKey!, id);
      proofs.set(id, proof);
    }
    return proof;
  };
  const proofValue = (id: string) => (id ? proofOf(id) : '');
  const proofStatement = contextKey ? setConfigText([PROOF_SETTING]) : null;
  // Statements before one Sync form an implicit transaction: set_config(…, true) settings end
  // at the Sync, so a single statement needs no BEGIN or COMMIT. (SET LOCAL there would log a warning.)
  const implicitStatement = setConfigText([TENANT_SETTING, ...(contextKey ? [PROOF_SETTING] : []), ...limits.map(([name]) => name)]);
  const limitValues = limits.map(([, value]) => value);
  const implicitSettings = (id: string): PipelineStatement => ({ text: implicitStatement, values: contextKey ? [id, proofValue(id), ...limitValues] : [id, ...limitValues] });
  const BEGIN = { text: 'BEGIN' };
  const tenantOpening = (id: string): PipelineStatement[] =>
    tenantContext === 'set-config'
      ? [BEGIN, implicitSettings(id)]
      : [BEGIN, { text: `SET LOCAL ${TENANT_SETTING} = '${id}'` }, ...setLocalLimits, ...(proofStatement ? [{ text: proofStatement, values: [proofValue(id)] }] : [])];

  // With set_config, a transaction that is one round trip needs no BEGIN and COMMIT.
  const hold = (id: string) => {
    if (tenantContext === 'set-local') return new ScopedTransaction(appPool, tenantOpening(id), options, slotFor(id));
    const settings = implicitSettings(id);
    return new ScopedTransaction(appPool, [BEGIN, settings], options, slotFor(id), [settings]);
  };

  async function scoped<T>(tx: ScopedTransaction, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      await tx.end(false).catch(() => undefined);
      throw error;
    }
    await tx.end(true);
    return result;
  }

  return {
    tenantContext,

    // async: a bad tenant id rejects the promise instead of throwing synchronously.
    async withTenant(tenantId, fn) {
      return scoped(hold(parseTenantId(tenantId)), fn);
    },

    holdTenant(tenantId) {
      return hold(parseTenantId(tenantId));
    },

    async tenantQuery(tenantId, text, values) {
      return hold(parseTenantId(tenantId)).last(text, values);
    },

    queryWithoutTenant(text, values) {
      return new ScopedTransaction(appPool, [implicitSettings('')], options).last(text, values);
    },

    withoutTenant(fn) {
      return scoped(new ScopedTransaction(appPool, tenantOpening(''), options), fn);
    },

    asSystem(fn) {
      return scoped(new ScopedTransaction(systemPool, systemOpening, options), fn);
    },

    async ping() {
      await Promise.all([appPool.query('select 1'), systemPool.query('select 1')]);
    },
  };
}
