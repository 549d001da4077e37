/**
 * Every error Rowguard raises on purpose carries a stable machine-readable `code`, one of
 * these. Callers branch on `code`, never on message text. The README's table of kernel and
 * command errors is this list (a test holds them together); the HTTP API's problems are
 * src/http/problem.ts's PROBLEMS.
 *
 * @example
 * ```ts
 * import { ROWGUARD_ERROR_CODES, type RowguardErrorCode } from '@rowguard/kernel';
 * const isRowguardCode = (code: unknown): code is RowguardErrorCode => (ROWGUARD_ERROR_CODES as readonly unknown[]).includes(code);
 * ```
 */
export const ROWGUARD_ERROR_CODES = [
  'INVALID_TENANT_ID',
  'STATEMENT_NOT_ALLOWED',
  'TRANSACTION_ABORTED',
  'TRANSACTION_CLOSED',
  'TRANSACTION_NOT_STARTED',
  'TENANT_BUSY',
  'UNSAFE_APP_ROLE',
  'APP_URL_REQUIRED',
  'MIGRATION_CHANGED',
  'MIGRATION_UNKNOWN',
  'MIGRATION_FAILED',
  'ROLE_SETUP_FAILED',
  'CONFIG_INVALID',
  'TENANT_NOT_FOUND',
  'LAST_OWNER',
  'EMBEDDED_POSTGRES_FAILED',
  'DATABASE_UNREACHABLE',
  'TENANT_TABLES_MISSING',
  'PROBE_INCOMPLETE',
  'DESTINATION_NOT_ALLOWED',
  'DELIVERY_FAILED',
] as const;

/** One of `ROWGUARD_ERROR_CODES`: what `RowguardError.code` holds. */
export type RowguardErrorCode = (typeof ROWGUARD_ERROR_CODES)[number];

/**
 * Every error Rowguard raises on purpose; the subclasses narrow `code`. Database errors are not
 * wrapped: they pass through with PostgreSQL's SQLSTATE in their own `code`.
 *
 * @example
 * ```ts
 * import { RowguardError } from '@rowguard/kernel';
 * try {
 *   await kernel.withTenant(tenantId, (tx) => tx.query('select id, title from notes'));
 * } catch (error) {
 *   if (error instanceof RowguardError && error.code === 'INVALID_TENANT_ID') return c.json({ error: error.code }, 400);
 *   throw error;
 * }
 * ```
 */
export class RowguardError extends Error {
  /** Stable and machine-readable: branch on it, never on the message. */
  readonly code: RowguardErrorCode;

  constructor(code: RowguardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RowguardError';
    this.code = code;
  }
}

/**
 * The tenant context was misused: bad id, no context, or a statement that would escape it.
 *
 * @example
 * ```ts
 * import { TenantContextError } from '@rowguard/kernel';
 * try {
 *   await kernel.withTenant(tenantId, (tx) => tx.query('commit'));
 * } catch (error) {
 *   if (error instanceof TenantContextError && error.code === 'STATEMENT_NOT_ALLOWED') console.error(error.message);
 * }
 * ```
 */
export class TenantContextError extends RowguardError {
  constructor(code: 'INVALID_TENANT_ID' | 'STATEMENT_NOT_ALLOWED', message: string) {
    super(code, message);
    this.name = 'TenantContextError';
  }
}

/**
 * A transaction was used after it ended, or after one of its statements failed.
 *
 * @example
 * ```ts
 * import { TransactionStateError } from '@rowguard/kernel';
 * try {
 *   await kernel.withTenant(tenantId, async (tx) => {
 *     await tx.query('insert into notes (title) values ($1)', [title]).catch(() => undefined); // swallowed
 *   });
 * } catch (error) {
 *   if (error instanceof TransactionStateError && error.code === 'TRANSACTION_ABORTED') console.error('rolled back all the same');
 * }
 * ```
 */
export class TransactionStateError extends RowguardError {
  constructor(code: 'TRANSACTION_CLOSED' | 'TRANSACTION_ABORTED' | 'TRANSACTION_NOT_STARTED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TransactionStateError';
  }
}

/**
 * The database roles would let request traffic escape Row-Level Security.
 *
 * @example
 * ```ts
 * import { assertSafeAppRole, UnsafeRoleError } from '@rowguard/kernel';
 * try {
 *   await assertSafeAppRole(client, { systemRole: 'rowguard_system' });
 * } catch (error) {
 *   if (error instanceof UnsafeRoleError && error.code === 'UNSAFE_APP_ROLE') console.error(error.problems.join('\n'));
 *   throw error;
 * }
 * ```
 */
export class UnsafeRoleError extends RowguardError {
  /** Each thing that lets the role escape, one sentence apiece (superuser, BYPASSRLS, owned tables). */
  readonly problems: readonly string[];

  constructor(code: 'UNSAFE_APP_ROLE' | 'APP_URL_REQUIRED', message: string, problems: readonly string[] = []) {
    super(code, message);
    this.name = 'UnsafeRoleError';
    this.problems = problems;
  }
}

/**
 * Schema migrations could not be applied as recorded.
 *
 * @example
 * ```ts
 * import { migrate, MigrationError } from '@rowguard/kernel';
 * try {
 *   await migrate({ connectionString: ownerUrl, directory: 'db/migrations', variables: { app_role: 'rowguard_app', system_role: 'rowguard_system' } });
 * } catch (error) {
 *   if (error instanceof MigrationError && error.code === 'MIGRATION_UNKNOWN') console.error('the database is newer than this release');
 *   throw error;
 * }
 * ```
 */
export class MigrationError extends RowguardError {
  constructor(code: 'MIGRATION_CHANGED' | 'MIGRATION_UNKNOWN' | 'MIGRATION_FAILED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MigrationError';
  }
}
