/**
 * Reading policy expressions as PostgreSQL prints them (pg_get_expr), e.g.
 * ((tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)).
 */

/** The expression without the parentheses that wrap all of it. */
function unwrap(expression: string): string {
  let e = expression.trim();
  while (e.startsWith('(') && closingOf(e, 0) === e.length - 1) e = e.slice(1, -1).trim();
  return e;
}

function closingOf(text: string, open: number): number {
  let depth = 0;
  let quoted = false;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    if (ch === ')' && --depth === 0) return i;
  }
  return -1;
}

/** The parts of `expression` between top-level occurrences of `separator` (outside parentheses and quotes). */
function splitTop(expression: string, separator: string): string[] {
  const e = unwrap(expression);
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < e.length; i++) {
    const ch = e[i];
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth === 0 && e.startsWith(separator, i)) {
      parts.push(e.slice(start, i));
      start = i + separator.length;
    }
  }
  parts.push(e.slice(start));
  return parts.map((b) => b.trim());
}

/** The branches of a top-level OR; one branch when there is none. */
export const orBranches = (expression: string) => splitTop(expression, ' OR ');

export function mentionsColumn(expression: string, column: string): boolean {
  return new RegExp(`(^|[^\\w.])"?${column}"?([^\\w]|$)`).test(expression);
}

/** The column compared through a cast, e.g. (tenant_id)::text: the index on it cannot be used. */
export function castsColumn(expression: string, column: string): boolean {
  return new RegExp(`\\(?"?${column}"?\\)?::`).test(expression);
}

export interface SettingRead {
  name: string;
  missingOk: boolean;
  /** Wrapped in NULLIF(…, '') so an unset setting reads as NULL, not as an invalid ''. */
  emptyGuarded: boolean;
}

export function settingsRead(expression: string): SettingRead[] {
  const reads: SettingRead[] = [];
  const pattern = /current_setting\('([^']+)'(?:::text)?(\s*,\s*(true|false))?\)/gi;
  for (const match of expression.matchAll(pattern)) {
    const before = expression.slice(Math.max(0, match.index - 9), match.index);
    reads.push({ name: match[1]!, missingOk: match[3]?.toLowerCase() === 'true', emptyGuarded: /NULLIF\($/i.test(before) });
  }
  return reads;
}

/** Compares to the connected role: isolates nothing when every request uses one role. */
export function usesCurrentUser(expression: string): boolean {
  return /\b(CURRENT_USER|SESSION_USER|CURRENT_ROLE)\b/.test(expression.replace(/'[^']*'/g, "''"));
}

/** Why an expression admits rows of other tenants, or null when every branch pins `column`. */
export function whyNotPinned(expression: string, column: string): string | null {
  if (/^\(?\s*true\s*\)?$/i.test(expression.trim())) return 'is always true';
  if (!mentionsColumn(expression, column)) return `never refers to ${column}`;
  for (const branch of orBranches(expression)) {
    if (splitTop(branch, ' AND ').some((term) => tiesToTenant(term, column))) continue;
    if (!mentionsColumn(branch, column)) {
      if (/IS NULL/i.test(branch)) return `has an "IS NULL OR …" branch (${branch})`;
      const setting = settingsRead(branch)[0];
      if (setting) return `has an OR branch controlled by the setting ${setting.name}, which any role can set for itself`;
      return `has an OR branch that does not involve ${column} (${branch})`;
    }
    return `does not compare ${column} for equality with the tenant context or a lookup of who is asking (${branch})`;
  }
  return null;
}

// pg_get_expr prints a call as name( and keywords as WHERE (; these constructs print like
// calls, and none of them says who is asking.
const NOT_CALLS = new Set(['ARRAY', 'COALESCE', 'NULLIF', 'GREATEST', 'LEAST', 'ROW']);
const CALL = /([A-Za-z_][\w$]*)\(/g;

/** Reads who is asking: a setting, the signed context, or a function call (auth.uid(), a membership check). */
function readsCaller(expression: string): boolean {
  const text = expression.replace(/'[^']*'/g, "''");
  return [...text.matchAll(CALL)].some((m) => !NOT_CALLS.has(m[1]!.toUpperCase()));
}

/** `column` alone, perhaps parenthesized or cast: (tenant_id)::text. */
const isColumn = (side: string, column: string) => new RegExp(`^\\(*"?${column}"?\\)*(::[\\w ]+)?$`).test(side.trim());

/**
 * One AND-term that ties a row to the caller's tenant: `column = <context>` (a setting, the
 * signed context, a function), `column IN/= ANY (<lookup that reads the caller>)`, a boolean
 * function given the column (a membership check: has_role_on_account(account_id)), or an
 * EXISTS over the column that reads the caller. Constants, other columns, IS NOT NULL, pattern
 * matches and NULL-tolerant comparisons (IS NOT DISTINCT FROM, COALESCE) tie nothing.
 */
function tiesToTenant(term: string, column: string): boolean {
  const t = unwrap(term);
  if (!mentionsColumn(t, column)) return false;
  const equal = splitTop(t, ' = ');
  if (equal.length === 2) {
    const [left, right] = equal as [string, string];
    if (/^ANY \(/i.test(right)) return isColumn(left, column) && readsCaller(right);
    const [columnSide, otherSide] = isColumn(left, column) ? [left, right] : [right, left];
    if (isColumn(columnSide, column) && !mentionsColumn(otherSide, column)) return readsCaller(otherSide);
    // A boolean membership function compared with true.
    return /^true$/i.test(right.trim()) && membershipCall(left, column);
  }
  const inList = /^(.*?) IN \(/s.exec(t);
  if (inList && isColumn(inList[1]!, column)) return readsCaller(t.slice(inList[0].length));
  if (/^EXISTS \(/i.test(t)) return readsCaller(t);
  return membershipCall(t, column);
}

/** A single call of a (non-builtin-construct) function that is given the column. */
function membershipCall(term: string, column: string): boolean {
  const t = unwrap(term);
  const call = /^([A-Za-z_][\w$.]*)\(/.exec(t);
  if (!call || NOT_CALLS.has(call[1]!.split('.').pop()!.toUpperCase())) return false;
  return closingOf(t, call[0].length - 1) === t.length - 1 && mentionsColumn(t.slice(call[0].length), column);
}

const SIGNED_CONTEXT = /\(\s*SELECT rowguard\.tenant_id\(\)/i;

/**
 * Where an expression takes the tenant from: `rowguard.tenant_id()` (the signed context) or
 * the settings it reads, e.g. ['app.tenant_id']. Empty when it reads no context.
 */
export function contextSources(expression: string): string[] {
  const sources = settingsRead(expression).map((r) => r.name);
  if (SIGNED_CONTEXT.test(expression)) sources.unshift('rowguard.tenant_id()');
  return [...new Set(sources)];
}

// A column on one side of "=", the tenant context (a setting, possibly cast or NULLIF-wrapped,
// or the signed context's subquery) on the other, as pg_get_expr prints them.
const CONTEXT = String.raw`(?:\(*(?:NULLIF\()?current_setting\('[^']+'|\(\s*SELECT rowguard\.tenant_id\(\))`;
const COLUMN = String.raw`\(*"?([A-Za-z_][\w$]*)"?\)*(?:::[\w ]+)?`;
const COLUMN_FIRST = new RegExp(`${COLUMN}\\s*=\\s*${CONTEXT}`, 'g');
const CONTEXT_FIRST = new RegExp(`${CONTEXT}[^=]*?\\)+(?:::[\\w ]+)?\\s*=\\s*${COLUMN}`, 'g');

/** The columns an expression compares with the tenant context. */
export function contextColumns(expression: string): string[] {
  const columns = [...expression.matchAll(COLUMN_FIRST), ...expression.matchAll(CONTEXT_FIRST)].map((m) => m[1]!);
  return [...new Set(columns.filter((c) => !/^(NULLIF|SELECT|current_setting)$/i.test(c)))];
}

/**
 * The setting most tables read the tenant from, given each table's policy expressions;
 * undefined when none reads one. Counted per table, as context-source-mismatch does.
 *
 * @example
 * ```ts
 * // each table's policy expressions (USING, WITH CHECK), as pg_get_expr prints them
 * tenantSettingOf([
 *   ["(tenant_id = (NULLIF(current_setting('app.current_tenant'::text, true), ''::text))::uuid)", null],
 *   ["(account_id = (current_setting('app.current_tenant'::text))::uuid)"],
 * ]); // 'app.current_tenant'
 * ```
 */
export function tenantSettingOf(tables: readonly (readonly (string | null)[])[]): string | undefined {
  const counts = new Map<string, number>();
  for (const expressions of tables) {
    for (const name of new Set(expressions.flatMap((e) => (e ? settingsRead(e).map((r) => r.name) : [])))) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}
