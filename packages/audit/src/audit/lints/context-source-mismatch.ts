import { contextSources } from '../policy-expression.js';
import { concernsApp, repinFixFor, tenantTables, type Finding, type Lint } from '../lint.js';

/**
 * Every tenant table should take the tenant from the same place. A table whose policies read
 * another setting than the rest (`app.current_tenant` beside `app.tenant_id`) reads one that
 * the application never sets, so a client can set it to any tenant; one that skips the signed
 * context where the others require it accepts a forged tenant.
 */
export const contextSourceMismatch: Lint = {
  id: 'context-source-mismatch',
  severity: 'error',
  title: 'Tenant tables read the tenant from different places',
  run: (catalog) => {
    const sourceOf = (table: ReturnType<typeof tenantTables>[number]) =>
      [...new Set(table.policies.filter((p) => concernsApp(catalog, p.roles)).flatMap((p) => [p.using, p.check].flatMap((e) => (e ? contextSources(e) : []))))].sort().join(' + ');
    const sources = new Map(tenantTables(catalog).map((t) => [t, sourceOf(t)]));
    const counts = new Map<string, number>();
    for (const source of sources.values()) if (source) counts.set(source, (counts.get(source) ?? 0) + 1);
    if (counts.size < 2) return [];
    // The most common source is taken as the intended one; ties go to the signed context.
    const [usual] = [...counts.entries()].sort(([a, x], [b, y]) => y - x || Number(b.startsWith('rowguard')) - Number(a.startsWith('rowguard')))[0]!;
    const findings: Finding[] = [];
    for (const [table, source] of sources) {
      if (!source || source === usual) continue;
      findings.push({
        id: 'context-source-mismatch',
        severity: 'error',
        object: table.qualified,
        message: `Its policies take the tenant from ${source}, the other tenant tables from ${usual}: a setting the application does not set is one any client can set to another tenant.`,
        fix: table.policies
          .filter((p) => concernsApp(catalog, p.roles))
          .map((p) => repinFixFor(catalog, table.qualified, p))
          .filter((sql) => sql !== undefined)
          .join('\n') || undefined,
      });
    }
    return findings;
  },
};
