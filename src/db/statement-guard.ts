import { TenantContextError } from '../errors.js';

// Statements that would end the transaction (and with it the tenant context) or change the
// role or settings beyond it. Inside withTenant/asSystem they are refused before reaching the
// server, the way postgres.js refuses BEGIN outside sql.begin.
const REFUSED = [
  /^(begin|start|commit|end|abort|prepare\s+transaction|commit\s+prepared|rollback\s+prepared)\b/,
  /^rollback(?!\s+(work\s+|transaction\s+)?to\b)/,
  /^set\s+(?!local\b)/, // session-level SET outlives the transaction
  /^set\s+local\s+(role|session\b|app\.)/,
  /^(reset|discard|listen|unlisten|load|copy)\b/,
];

/** Throws `STATEMENT_NOT_ALLOWED` for transaction control and session-level settings. */
export function assertStatementAllowed(text: string): void {
  const head = leadingSql(text);
  if (REFUSED.some((pattern) => pattern.test(head))) {
    const word = head.split(/\s+/, 2).join(' ').toUpperCase();
    throw new TenantContextError('STATEMENT_NOT_ALLOWED', `${word} is not allowed inside a scoped transaction`);
  }
}

/** The statement text after leading whitespace, comments and parentheses, lower-cased. */
function leadingSql(text: string): string {
  let rest = text;
  for (;;) {
    const trimmed = rest.replace(/^[\s(]+/, '');
    if (trimmed.startsWith('--')) {
      const newline = trimmed.indexOf('\n');
      rest = newline === -1 ? '' : trimmed.slice(newline + 1);
    } else if (trimmed.startsWith('/*')) {
      const close = trimmed.indexOf('*/');
      rest = close === -1 ? '' : trimmed.slice(close + 2);
    } else {
      return trimmed.slice(0, 200).toLowerCase();
    }
  }
}
