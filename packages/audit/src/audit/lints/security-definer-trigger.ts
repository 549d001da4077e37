import type { Finding, Lint } from '../lint.js';

/**
 * Triggers run as whoever writes the row, bound by RLS, unless the trigger function is
 * SECURITY DEFINER: then it runs as its owner on every write the app role makes, and can read
 * or change other tenants' rows (copy a looked-up value into NEW, which the app then reads).
 * EXECUTE is checked when the trigger is created, not when it fires, so revoking it from the
 * app role changes nothing.
 */
export const securityDefinerTrigger: Lint = {
  id: 'security-definer-trigger',
  severity: 'warn',
  title: 'SECURITY DEFINER trigger function on a tenant table',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const fn of catalog.functions.filter((f) => f.securityDefiner && !f.builtIn && f.triggerOf.length > 0 && !f.reviewed)) {
      findings.push({
        id: 'security-definer-trigger',
        severity: 'warn',
        object: `function ${fn.signature}`,
        message: `It is a trigger of ${fn.triggerOf.join(', ')} and runs with its owner's rights on every row the app role writes, whatever EXECUTE grants say: what it reads or writes is not bound by the tenant policies.`,
        fix: `-- if it only touches the row being written or the writer's own tenant: alter function ${fn.signature} security invoker;\n-- if it must cross tenants by design: comment on function ${fn.signature} is 'rowguard:reviewed <why>';`,
      });
    }
    return findings;
  },
};
