import type { FunctionFacts } from '../catalog.js';
import type { Finding, Lint } from '../lint.js';

/**
 * Unless pg_temp is listed in search_path, PostgreSQL looks up tables and types in the
 * session's temporary schema first. An app role that may create temporary tables can then
 * make a function resolve an unqualified `memberships` to a table of its own: a SECURITY
 * DEFINER function, a trigger, or a helper inside a tenant policy answers from forged rows.
 * Only names the body leaves unqualified are looked up this way, and an empty search_path is
 * safe: a function that works with it names every table in full.
 */
const shadowable = (fn: FunctionFacts) =>
  fn.namesUnqualifiedTable && (fn.searchPath === null || (fn.searchPath.replace(/["\s]/g, '') !== '' && !/(^|,)\s*"?pg_temp"?\s*$/.test(fn.searchPath)));

export const functionSearchPathShadowable: Lint = {
  id: 'function-search-path-shadowable',
  severity: 'error',
  title: 'Function over tenant data whose tables a temporary table of the app role can shadow',
  run: (catalog) => {
    if (!catalog.appCanCreateTemp) return [];
    const findings: Finding[] = [];
    for (const fn of catalog.functions.filter((f) => !f.builtIn && shadowable(f))) {
      const where = [
        fn.calledByTenantPolicy ? 'a tenant policy calls it' : '',
        fn.securityDefiner && fn.triggerOf.length > 0 ? `it is a SECURITY DEFINER trigger of ${fn.triggerOf.join(', ')}` : '',
        fn.securityDefiner && fn.appCanExecute ? 'the app role can run it with its owner’s rights' : '',
      ].filter(Boolean);
      // A SECURITY DEFINER function without any search_path is security-definer-function's finding.
      if (where.length === 0 || (fn.securityDefiner && fn.searchPath === null)) continue;
      const path = fn.searchPath === null ? 'the caller’s search_path' : `search_path = ${fn.searchPath}`;
      findings.push({
        id: 'function-search-path-shadowable',
        severity: 'error',
        object: `function ${fn.signature}`,
        message: `${where.join('; ')}, and with ${path} (no pg_temp last) a temporary table the app role creates is found before the table the function means.`,
        fix: `alter function ${fn.signature} set search_path = ${fn.searchPath ?? 'pg_catalog'}, pg_temp;\n-- or: revoke temporary on database <this database> from public, "${catalog.appRole}";`,
      });
    }
    return findings;
  },
};
