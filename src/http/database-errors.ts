import { isConnectionFailure, RowguardError, SQLSTATE, TenantBusyError } from '@rowguard/kernel';
import { HttpProblem } from './problem.js';
import { recordProblem } from '../records/record-errors.js';

interface DatabaseError {
  code?: string;
  constraint?: string;
  column?: string;
  message?: string;
}

// Constraint names follow PostgreSQL's defaults: <table>_tenant_id_<column>_fkey and
// <table>_tenant_id_<column>_key; on Citus the error names the shard's copy, with the shard id
// after it, and Citus passes a worker's error on without its fields: the name is then read
// from PostgreSQL's message (in English; otherwise the field is "body"). The column is the
// useful part for a client.
function fieldOf(error: DatabaseError): string {
  const constraint = error.constraint ?? /constraint "([^"]+)"/.exec(error.message ?? '')?.[1] ?? '';
  const match = /^[a-z_]+?_tenant_id_([a-z_]+?)_(fkey|key)(?:_\d+)?$/.exec(constraint);
  return match?.[1] ?? error.column ?? 'body';
}

/**
 * Maps what the database said to what the client may hear: a stable code and the field,
 * never the SQL, the constraint's key values, or the message text.
 */
export function problemFromError(error: unknown): HttpProblem | null {
  if (error instanceof HttpProblem) return error;
  if (error instanceof TenantBusyError) {
    return new HttpProblem('TENANT_BUSY');
  }
  if (error instanceof RowguardError && error.code === 'INVALID_TENANT_ID') {
    return new HttpProblem('UNAUTHENTICATED', 'The credentials do not name a valid tenant');
  }
  if (isConnectionFailure(error) || (error instanceof Error && /Connection terminated|not queryable|timeout exceeded when trying to connect/.test(error.message))) {
    return new HttpProblem('DATABASE_UNAVAILABLE');
  }
  const record = recordProblem(error);
  if (record) return record;
  const db = error as DatabaseError;
  switch (db.code) {
    case SQLSTATE.INSUFFICIENT_PRIVILEGE:
      // A policy refused the write: the permission table held in the database (migration
      // 0014), behind a handler that did not check it.
      return new HttpProblem('FORBIDDEN');
    case SQLSTATE.FOREIGN_KEY_VIOLATION:
      // Another tenant's object is invisible, so a reference to it is simply not found.
      return new HttpProblem('REFERENCE_NOT_FOUND', undefined, [
        { field: fieldOf(db), message: 'no such object' },
      ]);
    case SQLSTATE.UNIQUE_VIOLATION:
      return new HttpProblem('CONFLICT', undefined, [{ field: fieldOf(db), message: 'already in use' }]);
    case SQLSTATE.CHECK_VIOLATION:
      return new HttpProblem('CONSTRAINT_VIOLATION');
    case SQLSTATE.SERIALIZATION_FAILURE:
    case SQLSTATE.DEADLOCK_DETECTED:
      return new HttpProblem('CONCURRENT_CHANGE');
    case SQLSTATE.QUERY_CANCELED:
      return new HttpProblem('TIMEOUT');
    case SQLSTATE.LOCK_NOT_AVAILABLE:
      return new HttpProblem('LOCK_TIMEOUT');
    default:
      // Class 22 is "data exception": a value the database could not take. Validation should
      // catch these first; this keeps any that slip through a client error, not a 500.
      if (db.code?.startsWith('22')) return new HttpProblem('INVALID_VALUE');
      return null;
  }
}
