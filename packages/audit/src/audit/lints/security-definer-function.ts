import type { Finding, Lint } from '../lint.js';

export const securityDefinerFunction: Lint = {
  id: 'security-definer-function',
  severity: 'warn',
  title: 'SECURITY DEFINER function the app role can run over tenant tables, or without a pinned search_path',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const fn of catalog.functions.filter((f) => f.securityDefiner && !f.builtIn)) {
      if (!fn.pinnedSearchPath) {
        findings.push({
          id: 'security-definer-function',
          severity: 'error',
          object: `function ${fn.signature}`,
          message: 'It runs with its owner’s rights and an unpinned search_path: a caller can put objects of their own ahead of the ones it means.',
          fix: `alter function ${fn.signature} set search_path = pg_catalog, pg_temp;`,
        });
      }
      // A function someone has read and vouched for carries COMMENT 'rowguard:reviewed …'.
      if (fn.appCanExecute && fn.mentionsTenantTables.length > 0 && !fn.reviewed) {
        findings.push({
          id: 'security-definer-function',
          severity: 'warn',
          object: `function ${fn.signature}`,
          message: `The app role can run it, and it reads ${fn.mentionsTenantTables.join(', ')} with its owner's rights: make sure it returns only what the caller may see.`,
          fix: `-- if the app role does not need it: revoke execute on function ${fn.signature} from public, "${catalog.appRole}";\n-- if it is narrow by design: comment on function ${fn.signature} is 'rowguard:reviewed <why>';`,
        });
      }
    }
    return findings;
  },
};
