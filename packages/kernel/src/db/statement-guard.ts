import { TenantContextError } from '../errors.js';

// Statements that would end the transaction (and with it the tenant context) or change the
// role or settings beyond it. Inside withTenant/asSystem they are refused before reaching the
// server, the way postgres.js refuses BEGIN outside sql.begin. Matched against the statement
// as `words` normalizes it, so quoting, spacing and comments cannot disguise them.
const REFUSED_HEAD = [
  /^(begin|start|commit|end|abort|prepare transaction|commit prepared|rollback prepared)\b/,
  /^rollback(?! (work |transaction )?to\b)/,
  /^set (?!local\b)/, // session-level SET outlives the transaction
  /^set local (role|session\b|app\.|rowguard\.)/, // the role, the tenant context, the entered principal
  /^(reset|discard|listen|unlisten|load|copy|do)\b/, // DO runs arbitrary PL/pgSQL
];

// Functions that change settings, or run SQL given as a string (which no filter can read),
// wherever they appear in the statement.
const REFUSED_CALL = /(^|[^\w$])(set_config|query_to_xml|query_to_xml_and_xmlschema|query_to_xmlschema|cursor_to_xml|cursor_to_xmlschema) ?\(/;

/**
 * Throws `STATEMENT_NOT_ALLOWED` for transaction control, session-level settings, `SET LOCAL`
 * of `app.*` or the role, `DO`, and calls of `set_config` or of the functions that execute a
 * query string. This catches mistakes and the obvious injections; what makes the tenant
 * context unforgeable is its proof, which policies check (`rowguard.tenant_id()`).
 */
export function assertStatementAllowed(text: string): void {
  // Statement texts are the application's constants (values are parameters), so each is read
  // once: normalizing costs about 10 µs, on every statement of every request otherwise.
  if (allowed.has(text)) return;
  const normalized = words(text);
  const call = REFUSED_CALL.exec(normalized)?.[2]?.toUpperCase();
  const head = REFUSED_HEAD.some((pattern) => pattern.test(normalized)) ? normalized.split(' ', 2).join(' ').toUpperCase() : undefined;
  const what = head ?? call ?? (normalized.includes('u&"') ? 'a U&"…" identifier' : undefined);
  if (what) throw new TenantContextError('STATEMENT_NOT_ALLOWED', `${what} is not allowed inside a scoped transaction`);
  if (allowed.size >= ALLOWED_MAX) allowed.clear();
  allowed.add(text);
}

const ALLOWED_MAX = 10_000;
const allowed = new Set<string>();

/**
 * The statement in one canonical spelling: comments removed (nested block comments too),
 * string literals (quoted, E'…', dollar-quoted) emptied, double quotes dropped from
 * identifiers, whitespace collapsed to one space and removed around dots and before "(",
 * leading parentheses dropped, lower-cased.
 */
function words(text: string): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    const next = text[i + 1];
    if (ch === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
      out += ' ';
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') (depth++, (i += 2));
        else if (text[i] === '*' && text[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
      out += ' ';
    } else if (ch === "'") {
      // E'…' allows backslash escapes; '' is a quote either way.
      const escapes = /e$/i.test(out) && !/\w\w$/.test(out);
      i++;
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") break;
        else i++;
      }
      i++;
      out += "''";
    } else if (ch === '$' && /^\$([A-Za-z_][\w]*)?\$/.test(text.slice(i)) && !/[\w$]$/.test(out)) {
      const tag = /^\$([A-Za-z_][\w]*)?\$/.exec(text.slice(i))![0];
      const end = text.indexOf(tag, i + tag.length);
      i = end === -1 ? n : end + tag.length;
      out += "''";
    } else if (ch === '"') {
      // A quoted identifier: its text without the quotes ("" is one quote). U&"…" may spell
      // any name in escapes, so its marker is kept for the caller to refuse.
      if (/u&$/i.test(out)) out += '"';
      i++;
      while (i < n) {
        if (text[i] === '"' && text[i + 1] === '"') (out += '"', (i += 2));
        else if (text[i] === '"') break;
        else out += text[i++];
      }
      i++;
    } else {
      out += ch;
      i++;
    }
  }
  return out
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/ ?\. ?/g, '.')
    .replace(/ \(/g, '(')
    .replace(/^[\s(]+/, '');
}
