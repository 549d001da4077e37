/**
 * Every error Rowguard raises on purpose carries a stable machine-readable `code`.
 * Callers branch on `code`, never on message text.
 */
export type RowguardErrorCode =
  | 'INVALID_TENANT_ID'
  | 'TENANT_CONTEXT_MISSING'
  | 'TRANSACTION_CLOSED'
  | 'TRANSACTION_ABORTED'
  | 'TRANSACTION_NOT_STARTED'
  | 'STATEMENT_NOT_ALLOWED'
  | 'UNSAFE_APP_ROLE'
  | 'APP_URL_REQUIRED'
  | 'CONFIG_INVALID'
  | 'MIGRATION_CHANGED'
  | 'MIGRATION_UNKNOWN'
  | 'MIGRATION_FAILED'
  | 'ROLE_SETUP_FAILED'
  | 'EMBEDDED_POSTGRES_FAILED'
  | 'DATABASE_UNAVAILABLE'
  | 'DATABASE_UNREACHABLE'
  | 'TENANT_TABLES_MISSING'
  | 'PROBE_INCOMPLETE'
  | 'TENANT_BUSY';

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
  constructor(code: 'INVALID_TENANT_ID' | 'TENANT_CONTEXT_MISSING' | 'STATEMENT_NOT_ALLOWED', message: string) {
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
