import pg from 'pg';

// What the kernel, the schema tools, the audit and the probe share about SQL text: quoting
// for the places bind parameters cannot go, the tenant setting and predicate, and the
// SQLSTATE codes Rowguard reacts to.

/**
 * An identifier quoted for SQL text (pg's own escaping); never empty or holding NUL. For the
 * names bind parameters cannot carry: tables, columns, roles.
 *
 * @example
 * ```ts
 * import { quoteIdent } from '@rowguard/kernel';
 * await owner.query(`grant select on ${quoteIdent(table)} to ${quoteIdent(role)}`);
 * ```
 */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('invalid SQL identifier');
  return pg.escapeIdentifier(name);
}

/** A table name, optionally schema-qualified ("schema.table"); each part is quoted. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

/**
 * A string literal for SQL text (pg's own escaping, E'…' when it holds a backslash), for
 * statements that take no bind parameters, such as DDL.
 *
 * @example
 * ```ts
 * import { quoteLiteral } from '@rowguard/kernel';
 * await owner.query(`comment on table notes is ${quoteLiteral(description)}`);
 * ```
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('invalid SQL literal');
  return pg.escapeLiteral(value);
}

/**
 * The transaction-local setting every tenant policy reads.
 *
 * @example
 * ```ts
 * import { TENANT_SETTING } from '@rowguard/kernel';
 * const { rows } = await tx.query('select current_setting($1, true) as tenant', [TENANT_SETTING]);
 * ```
 */
export const TENANT_SETTING = 'app.tenant_id';

/**
 * The policy predicate, the same for USING and WITH CHECK. Plain (the default): `missing_ok`
 * and `nullif` make "no context" mean NULL (no rows, every write rejected) rather than an
 * error. Signed: the tenant that `rowguard.tenant_id()` vouches for, as a subquery so that each
 * statement evaluates it once (an InitPlan) and the tenant index serves it. Either way the
 * column is compared uncast and there is no OR branch to widen it.
 *
 * @param column - the tenant column
 * @param options - `signed` for the proof-checking form, the setting and the column type
 * @example
 * ```ts
 * import { tenantPredicate } from '@rowguard/kernel';
 * const predicate = tenantPredicate('org_id'); // "org_id" = nullif(current_setting('app.tenant_id', true), '')::uuid
 * await owner.query(`create policy org_isolation on reports using (${predicate}) with check (${predicate})`);
 * ```
 */
export function tenantPredicate(
  column = 'tenant_id',
  { signed = false, setting = TENANT_SETTING, type = 'uuid' }: { signed?: boolean; setting?: string; type?: string } = {},
): string {
  if (signed) return `${quoteIdent(column)} = (select rowguard.tenant_id())`;
  const context = `nullif(current_setting(${quoteLiteral(setting)}, true), '')`;
  return `${quoteIdent(column)} = ${type === 'text' ? context : `${context}::${type}`}`;
}


/**
 * PostgreSQL error codes Rowguard reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 * Database errors keep their SQLSTATE in `code`; compare it with these.
 *
 * @example
 * ```ts
 * import { SQLSTATE } from '@rowguard/kernel';
 * try {
 *   await kernel.withTenant(tenantId, (tx) => tx.query('insert into projects (name) values ($1)', [name]));
 * } catch (error) {
 *   if ((error as { code?: string }).code === SQLSTATE.UNIQUE_VIOLATION) return c.json({ error: 'name taken' }, 409);
 *   throw error;
 * }
 * ```
 */
export const SQLSTATE = Object.freeze({
  /** Also raised for a row that a policy's WITH CHECK rejects. */
  INSUFFICIENT_PRIVILEGE: '42501',
  /** A referenced row is missing, or is another tenant's (a foreign key that includes the tenant column). */
  FOREIGN_KEY_VIOLATION: '23503',
  /** A duplicate key. */
  UNIQUE_VIOLATION: '23505',
  /** A CHECK constraint rejected the row. */
  CHECK_VIOLATION: '23514',
  /** Cancelled, e.g. by `statementTimeout`. */
  QUERY_CANCELED: '57014',
  /** A concurrent transaction won a conflict; run the transaction again. */
  SERIALIZATION_FAILURE: '40001',
  /** This transaction was picked to break a deadlock; run it again. */
  DEADLOCK_DETECTED: '40P01',
  /** The server is shutting down, or an administrator ended the session. */
  ADMIN_SHUTDOWN: '57P01',
  /** The server is starting or recovering and accepts no connections yet. */
  CANNOT_CONNECT_NOW: '57P03',
  /** A lock was waited on longer than `lockTimeout`. */
  LOCK_NOT_AVAILABLE: '55P03',
  // Raised by Rowguard's own principal check (migration 0014).
  /** Not an active member of the tenant, or no such tenant. */
  NOT_A_MEMBER: 'RG001',
  /** The tenant is suspended. */
  TENANT_SUSPENDED: 'RG002',
  /** The user's permission in the tenant is below the one the action needs. */
  PERMISSION_BELOW_NEEDED: 'RG003',
});

/**
 * True for errors that mean "the server or connection went away", not "your statement was
 * wrong": worth a retry later, not a fix.
 *
 * @example
 * ```ts
 * import { isConnectionFailure } from '@rowguard/kernel';
 * try {
 *   return c.json((await kernel.tenantQuery(tenantId, 'select id, title from notes')).rows);
 * } catch (error) {
 *   if (isConnectionFailure(error)) return c.json({ error: 'database unavailable' }, 503);
 *   throw error;
 * }
 * ```
 */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === SQLSTATE.ADMIN_SHUTDOWN || code === SQLSTATE.CANNOT_CONNECT_NOW) return true;
  if (typeof code === 'string' && code.startsWith('08')) return true; // connection_exception class
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT';
}
