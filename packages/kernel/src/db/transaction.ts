import type pg from 'pg';
import { TransactionStateError } from '../errors.js';
import { Pipeline, type PipelineStatement, type RowShape } from './pipeline.js';
import { isConnectionFailure } from './sql.js';
import { assertStatementAllowed } from './statement-guard.js';
import { StatementCache } from './statement-cache.js';

/** How a statement's rows come back: `rowMode: 'array'` and `types`, as in node-postgres's query config. */
export type QueryOptions = RowShape;

/** What a scoped transaction offers to the function it runs. */
export interface Transaction {
  /**
   * Runs one parameterized statement ($1, $2, …) in this transaction.
   *
   * @example
   * const { rows } = await tx.query<{ id: string }>('select id from notes where author_id = $1', [authorId]);
   * const { rows: tuples } = await tx.query<unknown[]>('select n.id, a.id from notes n join authors a on a.id = n.author_id', [], { rowMode: 'array' });
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[], options?: QueryOptions): Promise<pg.QueryResult<R>>;
}

/**
 * A tenant transaction held open by its caller (a request) rather than by a function: it ends
 * with `last` (its final statement carries the COMMIT) or with `end`.
 */
export interface HeldTransaction extends Transaction {
  /**
   * Queues `text` to travel ahead of the next statement, in the same round trip; `onResult`
   * receives its result. When it fails, the transaction aborts and what was queued behind it
   * never runs (e.g. a membership check guarding the request's first statement).
   */
  prepend(text: string, values: readonly unknown[], onResult?: (result: pg.QueryResult) => void): void;
  /** Runs the transaction's final statement and commits with it, in one round trip. */
  last<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[], options?: QueryOptions): Promise<pg.QueryResult<R>>;
  /** COMMIT when `commit` and no statement failed, otherwise ROLLBACK; nothing when nothing was sent. */
  end(commit: boolean): Promise<void>;
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

interface Queued extends PipelineStatement {
  onResult?: (result: pg.QueryResult) => void;
}

/**
 * One transaction on one pooled connection. Nothing is sent until the first statement:
 * then BEGIN, the scope-setting statements and whatever was prepended travel in the same
 * round trip as it (when that first statement is also the last and the settings allow it,
 * without BEGIN: an implicit transaction). Whether a statement commits is decided here alone:
 * `last` and `end`.
 * The connection goes back to the pool only outside a transaction; otherwise it is destroyed.
 */
export class ScopedTransaction implements HeldTransaction {
  private client: Promise<pg.PoolClient> | null = null;
  /** The opening statements, until the first statement takes them. */
  private opening: readonly PipelineStatement[] | null;
  private readonly queued: Queued[] = [];
  /** Opened with BEGIN; without it, the statements before one Sync form an implicit transaction. */
  private explicit = false;
  private state: 'open' | 'aborted' | 'closed' = 'open';
  private failure: unknown = null;
  private broken = false;
  private freeSlot: (() => void) | null = null;
  /** The statement in flight: statements issued together (Promise.all) go one after another. */
  private inFlight: Promise<unknown> = Promise.resolve();
  private ending: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    opening: readonly PipelineStatement[],
    private readonly options: TransactionOptions,
    /** A per-tenant connection cap (TenantLimiter); none for system transactions. */
    private readonly acquireSlot?: AcquireSlot,
    /**
     * The opening when the whole transaction is one round trip (its first statement is `last`):
     * without BEGIN, so that the statements before the Sync form an implicit transaction and
     * neither BEGIN nor COMMIT is sent. Only settings that hold in one (set_config, not SET LOCAL).
     */
    private readonly openingAlone?: readonly PipelineStatement[],
  ) {
    this.opening = opening;
  }

  prepend(text: string, values: readonly unknown[], onResult?: (result: pg.QueryResult) => void): void {
    assertStatementAllowed(text);
    this.queued.push({ text, values, wantResult: true, onResult });
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[], options?: QueryOptions): Promise<pg.QueryResult<R>> {
    return this.send<R>(text, values, false, options);
  }

  /**
   * The whole rest of the transaction as one round trip: queued statements, the statement and
   * COMMIT (nothing for an implicit transaction, which its Sync ends).
   */
  async last<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[], options?: QueryOptions): Promise<pg.QueryResult<R>> {
    let result: pg.QueryResult<R>;
    try {
      result = await this.send<R>(text, values, true, options);
    } catch (error) {
      await this.end(false);
      throw error;
    }
    this.state = 'closed';
    this.release(await this.connection());
    return result;
  }

  /**
   * One statement at a time on the connection: node-postgres queues a second query on a busy
   * client only under a deprecation (removed in pg 9), and the second must see whether the
   * first aborted the transaction.
   */
  private send<R extends pg.QueryResultRow>(text: string, values: readonly unknown[] | undefined, commit: boolean, shape?: RowShape): Promise<pg.QueryResult<R>> {
    const turn = this.inFlight.then(() => this.sendNow<R>(text, values, commit, shape));
    this.inFlight = turn.catch(() => undefined);
    return turn;
  }

  private async sendNow<R extends pg.QueryResultRow>(text: string, values: readonly unknown[] | undefined, commit: boolean, shape?: RowShape): Promise<pg.QueryResult<R>> {
    if (this.state === 'closed') {
      throw new TransactionStateError('TRANSACTION_CLOSED', 'the transaction has ended; run queries inside its function');
    }
    if (this.state === 'aborted') {
      throw new TransactionStateError('TRANSACTION_ABORTED', 'an earlier statement failed; the transaction will roll back', { cause: this.failure });
    }
    assertStatementAllowed(text);
    const opening = this.opening === null ? [] : commit && this.openingAlone ? this.openingAlone : this.opening;
    if (this.opening !== null) {
      this.opening = null;
      this.explicit = opening.some((s) => s.text === 'BEGIN');
    }
    const statements: Queued[] = [...opening, ...this.queued.splice(0), { text, values, wantResult: true, shape }];
    const client = await this.connection();
    const cache = this.cacheOf(client);
    // The caller's statements and the parameterized opening ones (set_config) are prepared;
    // BEGIN and SET LOCAL are not.
    const plans = statements.map((s) => (cache && (s.wantResult || s.values !== undefined) ? cache.plan(s.text, s.values, s.wantResult === true, s.shape) : { statement: s, parsed: null }));
    const closing = commit && this.explicit ? [{ text: 'COMMIT' }] : [];
    try {
      const { results } = await this.run(client, [...plans.map((p) => p.statement), ...closing], cache?.takeEvicted());
      for (const p of plans) if (p.parsed) cache?.settle(p.statement.text, true);
      // Results come back for the statements that want one, in order; the caller's is last.
      const wanting = statements.filter((s) => s.wantResult);
      wanting.forEach((s, i) => s.onResult?.(results[i]!));
      return results[wanting.length - 1] as pg.QueryResult<R>;
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
   * Waits for a statement still running; a second call gets the first call's outcome.
   */
  end(commit: boolean): Promise<void> {
    this.ending ??= this.finish(commit);
    return this.ending;
  }

  private async finish(commit: boolean): Promise<void> {
    await this.inFlight;
    if (this.state === 'closed') return;
    const aborted = this.state === 'aborted';
    this.state = 'closed';
    if (!this.client) return; // nothing was sent: nothing to end
    const client = await this.client.catch(() => null);
    if (!client) return;
    let releaseError: Error | undefined;
    try {
      // Without BEGIN the statements ran in an implicit transaction that ended at their Sync.
      if (!this.broken && this.explicit) {
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
