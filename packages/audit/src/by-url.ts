import { auditScopeProblem, runAudit, type AuditOptions, type AuditReport } from './audit/run-audit.js';
import { connectClient, unreachableError } from './connect.js';
import { incompleteProbe, runProbe, type ProbeOptions, type ProbeReport } from './probe/run-probe.js';

/**
 * Audits the database at `url`: connects, reads the catalog, disconnects. An unreachable
 * database or nothing to audit (no tenant table, a missing schema) is a `RowguardError`
 * (`DATABASE_UNREACHABLE`, `TENANT_TABLES_MISSING`), never an empty report that passes.
 *
 * @example
 * ```ts
 * const report = await audit(process.env.DATABASE_URL!, { appRole: 'app' });
 * expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
 * ```
 */
export async function audit(url: string, options: AuditOptions & { expectTables?: number } = {}): Promise<AuditReport> {
  const client = await connectClient(url, 'rowguard audit');
  try {
    const report = await runAudit(client, options);
    const problem = await auditScopeProblem(client, report, { schemas: options.schemas, tenantColumn: options.tenantColumn, expectTables: options.expectTables });
    if (problem) throw problem;
    return report;
  } catch (error) {
    throw unreachableError(error, url) ?? error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Probes isolation as the application would: `ownerUrl` (a role that reads every row) finds
 * two tenants' rows, `appUrl` (the application's role) attacks across them; every attempt is
 * rolled back. See `runProbe` for what is tried. A probe that attacked no table or view (no
 * rows of two tenants), or fewer than `expectProbed`, is `PROBE_INCOMPLETE`: it proved nothing.
 *
 * @param options - the owner and app URLs, the least number of tables that must be probed, and the probe options
 * @example
 * ```ts
 * const report = await probe({ ownerUrl: process.env.OWNER_URL!, appUrl: process.env.APP_URL! });
 * expect(report.summary.fail).toBe(0);
 * ```
 */
export async function probe({ ownerUrl, appUrl, expectProbed, ...options }: ProbeOptions & { ownerUrl: string; appUrl: string; expectProbed?: number }): Promise<ProbeReport> {
  const owner = await connectClient(ownerUrl, 'rowguard probe');
  try {
    const app = await connectClient(appUrl, 'rowguard probe').catch((error: unknown) => {
      throw unreachableError(error, appUrl) ?? error;
    });
    try {
      const report = await runProbe(owner, app, options);
      const problem = incompleteProbe(report, expectProbed);
      if (problem) throw problem;
      return report;
    } finally {
      await app.end().catch(() => undefined);
    }
  } finally {
    await owner.end().catch(() => undefined);
  }
}
