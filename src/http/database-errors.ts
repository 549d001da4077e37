import { isConnectionFailure, SQLSTATE } from '../db/sqlstate.js';
import { TenantBusyError } from '../db/tenant-limiter.js';
import { RowguardError } from '../errors.js';
import { HttpProblem } from './problem.js';

interface DatabaseError {
  code?: string;
  constraint?: string;
  column?: string;
}

// Constraint names follow PostgreSQL's defaults: <table>_tenant_id_<column>_fkey and
// <table>_tenant_id_<column>_key. The column is the useful part for a client.
function fieldOf(error: DatabaseError): string {
  const match = /^[a-z_]+?_tenant_id_([a-z_]+?)_(fkey|key)$/.exec(error.constraint ?? '');
  return match?.[1] ?? error.column ?? 'body';
}

/**
 * Maps what the database said to what the client may hear: a stable code and the field,
 * never the SQL, the constraint's key values, or the message text.
 */
export function problemFromError(error: unknown): HttpProblem | null {
  if (error instanceof HttpProblem) return error;
  if (error instanceof TenantBusyError) {
    return new HttpProblem(429, 'TENANT_BUSY', 'This tenant has too many requests in progress; retry after the time in Retry-After');
  }
  if (error instanceof RowguardError && error.code === 'INVALID_TENANT_ID') {
    return new HttpProblem(401, 'UNAUTHENTICATED', 'The credentials do not name a valid tenant');
  }
  if (isConnectionFailure(error) || (error instanceof Error && /Connection terminated|not queryable|timeout exceeded when trying to connect/.test(error.message))) {
    return new HttpProblem(503, 'DATABASE_UNAVAILABLE', 'The database is not reachable; retry later');
  }
  const db = error as DatabaseError;
  switch (db.code) {
    case SQLSTATE.INSUFFICIENT_PRIVILEGE:
      // A policy refused the write: the permission table held in the database (migration
      // 0014), behind a handler that did not check it.
      return new HttpProblem(403, 'FORBIDDEN', 'This action needs a permission the caller does not have');
    case SQLSTATE.FOREIGN_KEY_VIOLATION:
      // Another tenant's object is invisible, so a reference to it is simply not found.
      return new HttpProblem(422, 'REFERENCE_NOT_FOUND', 'A referenced object does not exist', undefined, [
        { field: fieldOf(db), message: 'no such object' },
      ]);
    case SQLSTATE.UNIQUE_VIOLATION:
      return new HttpProblem(409, 'CONFLICT', 'An object with the same unique value exists', undefined, [{ field: fieldOf(db), message: 'already in use' }]);
    case SQLSTATE.CHECK_VIOLATION:
      return new HttpProblem(422, 'CONSTRAINT_VIOLATION', 'The values break a rule of this resource');
    case SQLSTATE.SERIALIZATION_FAILURE:
    case SQLSTATE.DEADLOCK_DETECTED:
      return new HttpProblem(409, 'CONCURRENT_CHANGE', 'A concurrent request changed the same data; retry');
    case SQLSTATE.QUERY_CANCELED:
      return new HttpProblem(503, 'TIMEOUT', 'The request took too long; retry later');
    case SQLSTATE.LOCK_NOT_AVAILABLE:
      return new HttpProblem(503, 'LOCK_TIMEOUT', 'The data is locked by another operation; retry later');
    default:
      // Class 22 is "data exception": a value the database could not take. Validation should
      // catch these first; this keeps any that slip through a client error, not a 500.
      if (db.code?.startsWith('22')) return new HttpProblem(400, 'INVALID_VALUE', 'A value is out of range or malformed');
      return null;
  }
}
