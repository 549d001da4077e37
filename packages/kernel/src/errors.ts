/**
 * Every error Rowguard raises on purpose carries a stable machine-readable `code`, one of
 * these. Callers branch on `code`, never on message text. The README's table of kernel and
 * command errors is this list (a test holds them together); the HTTP API's problems are
 * src/http/problem.ts's PROBLEMS.
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

export type RowguardErrorCode = (typeof ROWGUARD_ERROR_CODES)[number];

export class RowguardError extends Error {
  readonly code: RowguardErrorCode;

  constructor(code: RowguardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RowguardError';
    this.code = code;
  }
}

/** The tenant context was misused: bad id, no context, or a statement that would escape it. */
export class TenantContextError extends RowguardError {
  constructor(code: 'INVALID_TENANT_ID' | 'STATEMENT_NOT_ALLOWED', message: string) {
    super(code, message);
    this.name = 'TenantContextError';
  }
}

/** A transaction was used after it ended, or after one of its statements failed. */
export class TransactionStateError extends RowguardError {
  constructor(code: 'TRANSACTION_CLOSED' | 'TRANSACTION_ABORTED' | 'TRANSACTION_NOT_STARTED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TransactionStateError';
  }
}

/** The database roles would let request traffic escape Row-Level Security. */
export class UnsafeRoleError extends RowguardError {
  readonly problems: readonly string[];

  constructor(code: 'UNSAFE_APP_ROLE' | 'APP_URL_REQUIRED', message: string, problems: readonly string[] = []) {
    super(code, message);
    this.name = 'UnsafeRoleError';
    this.problems = problems;
  }
}

/** Schema migrations could not be applied as recorded. */
export class MigrationError extends RowguardError {
  constructor(code: 'MIGRATION_CHANGED' | 'MIGRATION_UNKNOWN' | 'MIGRATION_FAILED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MigrationError';
  }
}
