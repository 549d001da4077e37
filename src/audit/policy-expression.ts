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

/** The branches of a top-level OR; one branch when there is none. */
export function orBranches(expression: string): string[] {
  const e = unwrap(expression);
  const branches: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < e.length; i++) {
    const ch = e[i];
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth === 0 && e.startsWith(' OR ', i)) {
      branches.push(e.slice(start, i));
      start = i + 4;
    }
  }
  branches.push(e.slice(start));
  return branches.map((b) => b.trim());
}

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
  const branches = orBranches(expression);
  if (branches.length === 1) return null;
  const open = branches.find((b) => !mentionsColumn(b, column));
  if (!open) return null;
  if (/IS NULL/i.test(open)) return `has an "IS NULL OR …" branch (${open.trim()})`;
  const setting = settingsRead(open)[0];
  if (setting) return `has an OR branch controlled by the setting ${setting.name}, which any role can set for itself`;
  return `has an OR branch that does not involve ${column} (${open.trim()})`;
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
