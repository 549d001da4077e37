import type pg from 'pg';
import { TransactionStateError } from '../errors.js';
import { Pipeline, type PipelineStatement } from './pipeline.js';
import { isConnectionFailure } from './sqlstate.js';
import { assertStatementAllowed } from './statement-guard.js';
import { StatementCache } from './statement-cache.js';

/** What a scoped transaction offers to the function it runs. */
export interface Transaction {
  /** Runs one parameterized statement ($1, $2, …) in this transaction. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * Runs the transaction's last statement and commits in the same round trip (one round trip
   * less than query + commit). The transaction is over afterwards.
   */
  queryAndCommit<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

export interface TransactionOptions {
  /** Prepare statements by name on each connection and reuse them (off for PgBouncer < 1.21). */
  prepare: boolean;
  /** Prepared statements kept per connection. */
  statementCacheSize: number;
}

/** Takes a slot before a connection is checked out; resolves with the function that frees it. */
export type AcquireSlot = () => Promise<() => void>;

const caches = new WeakMap<pg.PoolClient, StatementCache>();

/**
 * One transaction on one pooled connection. Nothing is sent until the first statement:
 * then BEGIN and the scope-setting statement travel in the same round trip as it.
 * The connection goes back to the pool only outside a transaction; otherwise it is destroyed.
 */
export class ScopedTransaction implements Transaction {
  private client: Promise<pg.PoolClient> | null = null;
  private begun = false;
  private state: 'open' | 'aborted' | 'closed' = 'open';
  private failure: unknown = null;
  private broken = false;
  private freeSlot: (() => void) | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opening: readonly PipelineStatement[],
    private readonly options: TransactionOptions,
    /** A per-tenant connection cap (TenantLimiter); none for system transactions. */
    private readonly acquireSlot?: AcquireSlot,
  ) {}

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.send<R>(text, values, []);
  }

  /**
   * The whole transaction as one statement: opening statements, the statement and `closing`
   * (COMMIT, or nothing when the opening has no BEGIN and Sync ends an implicit transaction)
   * leave in one write and come back in one round trip.
   */
  queryAndCommit<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.queryAndClose<R>(text, values, [{ text: 'COMMIT' }]);
  }

  /** The statement and `closing` (COMMIT, or nothing for an implicit transaction) in one round trip. */
  async queryAndClose<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: readonly unknown[] | undefined,
    closing: readonly PipelineStatement[],
  ): Promise<pg.QueryResult<R>> {
    let result: pg.QueryResult<R>;
    try {
      result = await this.send<R>(text, values, closing);
    } catch (error) {
      await this.end(false);
      throw error;
    }
    this.state = 'closed';
    this.release(await this.connection());
    return result;
  }

  private async send<R extends pg.QueryResultRow>(text: string, values: readonly unknown[] | undefined, suffix: readonly PipelineStatement[]): Promise<pg.QueryResult<R>> {
    if (this.state === 'closed') {
      throw new TransactionStateError('TRANSACTION_CLOSED', 'the transaction has ended; run queries inside its function');
    }
    if (this.state === 'aborted') {
      throw new TransactionStateError('TRANSACTION_ABORTED', 'an earlier statement failed; the transaction will roll back', { cause: this.failure });
    }
    assertStatementAllowed(text);
    const prefix = this.begun ? [] : this.opening;
    this.begun = true;
    const client = await this.connection();
    const cache = this.cacheOf(client);
    // Parameterized opening statements (set_config) are prepared like the caller's statement.
    const plans = [...prefix.map((s) => ({ ...s, wantResult: false })), { text, values, wantResult: true }].map((s) =>
      cache && (s.wantResult || s.values !== undefined) ? cache.plan(s.text, s.values, s.wantResult) : { statement: s, parsed: null },
    );
    try {
      const outcome = await this.run(client, [...plans.map((p) => p.statement), ...suffix], cache?.takeEvicted());
      for (const p of plans) if (p.parsed) cache?.settle(p.statement.text, true);
      return outcome.results[0] as pg.QueryResult<R>;
    } catch (error) {
      for (const p of plans) if (p.parsed) cache?.settle(p.statement.text, false);
      this.state = 'aborted';
      this.failure = error;
      throw error;
    }
  }

  /**
   * Ends the transaction: COMMIT when `commit` and no statement failed, otherwise ROLLBACK.
   * Throws `TRANSACTION_ABORTED` when asked to commit a transaction that had to roll back.
   */
  async end(commit: boolean): Promise<void> {
    if (this.state === 'closed') return;
    const aborted = this.state === 'aborted';
    this.state = 'closed';
    if (!this.client) return; // nothing was sent: nothing to end
    const client = await this.client.catch(() => null);
    if (!client) return;
    let releaseError: Error | undefined;
    try {
      // Without BEGIN the statements ran in an implicit transaction that ended at their Sync.
      if (!this.broken && this.opening.some((s) => s.text === 'BEGIN')) {
        await this.run(client, [{ text: commit && !aborted ? 'COMMIT' : 'ROLLBACK' }]);
      }
    } catch (error) {
      releaseError = error instanceof Error ? error : new Error(String(error));
      if (commit && !aborted) throw error;
    } finally {
      this.release(client, releaseError);
    }
    if (commit && aborted) {
      throw new TransactionStateError('TRANSACTION_ABORTED', 'a statement failed, so the transaction was rolled back', { cause: this.failure });
    }
  }

  /** A connection is reused only when the server last said it is idle outside any transaction. */
  private release(client: pg.PoolClient, error?: Error): void {
    const idle = (client as unknown as { _txStatus?: string })._txStatus === 'I';
    client.release(this.broken || !idle ? (error ?? new Error('connection left inside a transaction')) : undefined);
    this.freeSlot?.();
  }

  private connection(): Promise<pg.PoolClient> {
    this.client ??= this.checkOut();
    return this.client;
  }

  private async checkOut(): Promise<pg.PoolClient> {
    this.freeSlot = (await this.acquireSlot?.()) ?? null;
    try {
      return await this.pool.connect();
    } catch (error) {
      this.freeSlot?.();
      throw error;
    }
  }

  private cacheOf(client: pg.PoolClient): StatementCache | null {
    if (!this.options.prepare) return null;
    let cache = caches.get(client);
    if (!cache) {
      cache = new StatementCache(this.options.statementCacheSize);
      caches.set(client, cache);
    }
    return cache;
  }

  private async run(client: pg.PoolClient, statements: readonly PipelineStatement[], closeNames?: string[]) {
    const pipeline = new Pipeline(statements, closeNames, client);
    client.query(pipeline as unknown as pg.QueryConfig);
    try {
      return await pipeline.done;
    } catch (error) {
      if (isConnectionFailure(error) || (error as { code?: string }).code === undefined) this.broken = true;
      throw error;
    }
  }
}
