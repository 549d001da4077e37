/** PostgreSQL error codes Rowguard reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
export const SQLSTATE = Object.freeze({
  /** Also raised for a row that a policy's WITH CHECK rejects. */
  INSUFFICIENT_PRIVILEGE: '42501',
  FOREIGN_KEY_VIOLATION: '23503',
  UNIQUE_VIOLATION: '23505',
  CHECK_VIOLATION: '23514',
  QUERY_CANCELED: '57014',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
  ADMIN_SHUTDOWN: '57P01',
  CANNOT_CONNECT_NOW: '57P03',
  LOCK_NOT_AVAILABLE: '55P03',
  // Raised by Rowguard's own principal check (migration 0014).
  NOT_A_MEMBER: 'RG001',
  TENANT_SUSPENDED: 'RG002',
  PERMISSION_BELOW_NEEDED: 'RG003',
});

/** True for errors that mean "the server or connection went away", not "your statement was wrong". */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === SQLSTATE.ADMIN_SHUTDOWN || code === SQLSTATE.CANNOT_CONNECT_NOW) return true;
  if (typeof code === 'string' && code.startsWith('08')) return true; // connection_exception class
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT';
}
