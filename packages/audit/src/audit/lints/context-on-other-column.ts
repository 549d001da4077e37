import { contextColumns } from '../policy-expression.js';
import { concernsApp, repinFixFor, tenantPolicies, type Finding, type Lint } from '../lint.js';

/**
 * The tenant context compared with a column other than the tenant column (`org_id =
 * current_setting('app.tenant_id')`): the rows it admits are chosen by a column the tenant
 * may write, not by the column every key, index and foreign key is built on.
 */
export const contextOnOtherColumn: Lint = {
  id: 'context-on-other-column',
  severity: 'error',
  title: 'Policy compares the tenant context with another column',
  run: (catalog) => {
    const findings: Finding[] = [];
    for (const { table, policy } of tenantPolicies(catalog)) {
      if (!concernsApp(catalog, policy.roles)) continue; // a role check for another role (system_access) reads no tenant
      const others = [policy.using, policy.check].flatMap((e) => (e ? contextColumns(e) : [])).filter((c) => c !== catalog.tenantColumn);
      if (others.length === 0) continue;
      findings.push({
        id: 'context-on-other-column',
        severity: 'error',
        object: `${table.qualified} policy ${policy.name}`,
        message: `It compares the tenant context with ${[...new Set(others)].join(', ')}, not ${catalog.tenantColumn}: a row's tenant is its ${catalog.tenantColumn}, and another column can name any tenant.`,
        fix: repinFixFor(catalog, table.qualified, policy),
      });
    }
    return findings;
  },
};
