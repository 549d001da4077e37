/**
 * Kysely on a scoped transaction: every statement runs in the request's tenant transaction;
 * `db.transaction()` becomes a savepoint inside it.
 *
 * @module @rowguard/kernel/kysely
 */
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type KyselyConfig,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { quoteIdent } from '../db/sql.js';
import type { Transaction } from '../db/transaction.js';
import { TenantContextError } from '../errors.js';

/**
 * Kysely on a scoped transaction: every query runs in `tx`, under its tenant, through the
 * kernel's statement guard. `db.transaction().execute(fn)` becomes a savepoint inside it
 * (released when `fn` resolves, rolled back to when it throws), so code written for a plain
 * Kysely keeps working; savepoints of controlled transactions map the same way. As everywhere
 * in the kernel, a statement that fails aborts the whole scoped transaction: rolling back to
 * a savepoint undoes what `fn` wrote when `fn` throws, not a failed statement.
 *
 * Build one per transaction; it holds nothing but `tx`.
 *
 * @example
 * import { kyselyOn } from '@rowguard/kernel/kysely';
 * const notes = await kernel.withTenant(tenantId, (tx) => kyselyOn<DB>(tx).selectFrom('notes').selectAll().execute());
 */
export function kyselyOn<DB>(tx: Transaction, config: Omit<KyselyConfig, 'dialect'> = {}): Kysely<DB> {
  return new Kysely<DB>({ ...config, dialect: new TransactionDialect(tx) });
}

class TransactionDialect implements Dialect {
  constructor(private readonly tx: Transaction) {}
  createAdapter = () => new PostgresAdapter();
  createDriver = () => new TransactionDriver(new TransactionConnection(this.tx));
  createQueryCompiler = () => new PostgresQueryCompiler();
  createIntrospector = (db: Kysely<unknown>) => new PostgresIntrospector(db);
}

let savepoints = 0;

class TransactionDriver implements Driver {
  /** Kysely's transactions as savepoints, innermost last. */
  private readonly open: string[] = [];

  constructor(private readonly connection: TransactionConnection) {}

  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection;
  }
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (settings.isolationLevel || settings.accessMode) {
      throw new TenantContextError('STATEMENT_NOT_ALLOWED', 'a transaction inside a tenant transaction cannot change its isolation level or access mode; set them where the tenant transaction starts');
    }
    const name = `rowguard_kysely_${++savepoints}`;
    this.open.push(name);
    await this.run(connection, `savepoint ${name}`);
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.run(connection, `release savepoint ${this.open.pop()}`);
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const name = this.open.pop();
    try {
      await this.run(connection, `rollback to savepoint ${name}`);
      await this.run(connection, `release savepoint ${name}`);
    } catch (error) {
      // A statement failed: the whole scoped transaction rolls back, and Kysely rethrows that
      // statement's error, which says what went wrong.
      if ((error as { code?: string }).code !== 'TRANSACTION_ABORTED') throw error;
    }
  }
  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await this.run(connection, `savepoint ${quoteIdent(name)}`);
  }
  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await this.run(connection, `rollback to savepoint ${quoteIdent(name)}`);
  }
  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await this.run(connection, `release savepoint ${quoteIdent(name)}`);
  }

  private run(connection: DatabaseConnection, sql: string) {
    return connection.executeQuery(CompiledQuery.raw(sql));
  }
}

const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

class TransactionConnection implements DatabaseConnection {
  constructor(private readonly tx: Transaction) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const { command, rowCount, rows } = await this.tx.query(compiled.sql, compiled.parameters);
    return { rows: rows as R[], numAffectedRows: WRITES.has(command) ? BigInt(rowCount ?? 0) : undefined };
  }

  // The pipeline reads whole results; a stream yields one chunk of all the rows.
  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    yield await this.executeQuery<R>(compiled);
  }
}
