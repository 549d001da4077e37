import { quoteIdent, quoteLiteral } from '../db/sql.js';

// psql's variable syntax, so a migration file runs unchanged under
// `psql -v app_role=rowguard_app -v system_role=rowguard_system -f FILE`.
// The look-behind skips casts such as x::"Type".
const VARIABLE = /(?<!:):(["'])([A-Za-z_][A-Za-z0-9_]*)\1/g;

/** Replaces :"name" with a quoted identifier and :'name' with a quoted literal. Unknown names throw. */
export function substituteVariables(sql: string, variables: Readonly<Record<string, string>>): string {
  return sql.replace(VARIABLE, (_match, quote: string, name: string) => {
    const value = variables[name];
    if (value === undefined) throw new Error(`unknown SQL variable :${quote}${name}${quote}`);
    return quote === '"' ? quoteIdent(value) : quoteLiteral(value);
  });
}
