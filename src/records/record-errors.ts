import { SQLSTATE } from '@rowguard/kernel';
import { HttpProblem } from '../http/problem.js';

/** What the records triggers raise (migration 0022), each with the field's name in the message. */
export const RECORD_SQLSTATE = Object.freeze({
  REQUIRED: 'RG010',
  WRONG_KIND: 'RG011',
  REFERENCED: 'RG012',
  REFERENCE_NOT_FOUND: 'RG013',
});

interface DatabaseError {
  code?: string;
  column?: string;
  message?: string;
}

// The column field carries the name on plain PostgreSQL; Citus passes a worker's error on
// with its message only, and the message always starts with it.
function fieldOf(error: DatabaseError): string | null {
  return error.column ?? /^record field "([a-z0-9_]+)"/.exec(error.message ?? '')?.[1] ?? null;
}

/**
 * A records trigger's refusal as the API's problem: the field by its JSON pointer in the
 * body, and the trigger's message, which names nothing but the field and the caller's own
 * types. Null for any other error.
 */
export function recordProblem(error: unknown): HttpProblem | null {
  const db = error as DatabaseError;
  const field = fieldOf(db);
  if (field === null || !db.message?.startsWith('record field')) return null;
  const detail = [{ field: `body.data.${field}`, pointer: `/data/${field}`, message: db.message }];
  switch (db.code) {
    case RECORD_SQLSTATE.REQUIRED:
    case RECORD_SQLSTATE.WRONG_KIND:
      return new HttpProblem('RECORD_INVALID', db.message, detail);
    case RECORD_SQLSTATE.REFERENCE_NOT_FOUND:
      return new HttpProblem('REFERENCE_NOT_FOUND', db.message, detail);
    case RECORD_SQLSTATE.REFERENCED:
      return new HttpProblem('RECORD_REFERENCED', db.message);
    case SQLSTATE.UNIQUE_VIOLATION:
      return new HttpProblem('CONFLICT', db.message, detail);
    default:
      return null;
  }
}
