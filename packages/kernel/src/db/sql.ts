import pg from 'pg';

// What the kernel, the schema tools, the audit and the probe share about SQL text: quoting
// for the places bind parameters cannot go, the tenant setting and predicate, and the
// SQLSTATE codes Rowguard reacts to.

/** An identifier quoted for SQL text (pg's own escaping); never empty or holding NUL. */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('invalid SQL identifier');
  return pg.escapeIdentifier(name);
}

/** A table name, optionally schema-qualified ("schema.table"); each part is quoted. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

/** A string literal for SQL text (pg's own escaping, E'…' when it holds a backslash). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('invalid SQL literal');
  return pg.escapeLiteral(value);
}

/** The transaction-local setting every tenant policy reads. */
export const TENANT_SETTING = 'app.tenant_id';

/**
 * The policy predicate, the same for USING and WITH CHECK. Plain (the default): `missing_ok`
 * and `nullif` make "no context" mean NULL (no rows, every write rejected) rather than an
 * error. Signed: the tenant that `rowguard.tenant_id()` vouches for, as a subquery so that each
 * statement evaluates it once (an InitPlan) and the tenant index serves it. Either way the
 * column is compared uncast and there is no OR branch to widen it.
 */
export function tenantPredicate(
  column = 'tenant_id',
  { signed = false, setting = TENANT_SETTING, type = 'uuid' }: { signed?: boolean; setting?: string; type?: string } = {},
): string {
  if (signed) return `${quoteIdent(column)} = (select rowguard.tenant_id())`;
  const context = `nullif(current_setting(${quoteLiteral(setting)}, true), '')`;
  return `${quoteIdent(column)} = ${type === 'text' ? context : `${context}::${type}`}`;
}


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
