import { settingsRead } from '../policy-expression.js';
import { repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

export const settingNotGuarded: Lint = {
  id: 'setting-not-guarded',
  severity: 'warn',
  title: "Policy reads a setting without missing_ok or without guarding ''",
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      const reads = [policy.using, policy.check].flatMap((e) => (e ? settingsRead(e) : []));
      // A read that errors (no missing_ok) matters more than one without the '' guard.
      const bad = reads.find((r) => !r.missingOk) ?? reads.find((r) => !r.emptyGuarded);
      if (!bad) continue;
      findings.push({
        id: 'setting-not-guarded',
        severity: 'warn',
        object: `${table.qualified} policy ${policy.name}`,
        message: !bad.missingOk
          ? `current_setting('${bad.name}') without missing_ok raises an error when the setting is absent, instead of showing nothing.`
          : `current_setting('${bad.name}', true) reads '' once the setting was set earlier in the session; without nullif(…, '') the cast fails instead of showing nothing.`,
        fix: repinFixFor(catalog, table.qualified, policy),
      });
    }
    return findings;
  },
};
