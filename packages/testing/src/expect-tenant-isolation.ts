import { audit, probe, type AuditReport, type ProbeReport } from '@rowguard/audit';

export interface IsolationOptions {
  /** A role that reads every row (a superuser or BYPASSRLS): finds two tenants' rows and reads the catalog. */
  ownerUrl: string;
  /** The application's own role, the one requests use: it attacks. */
  appUrl: string;
  /** The app role's name, when the audit cannot tell it from the catalog. */
  appRole?: string;
  tenantColumn?: string;
  schemas?: readonly string[];
  /** Fail unless at least this many tenant tables are audited. */
  expectTables?: number;
  /** Fail unless at least this many tables and views are probed (each needs rows of two tenants). */
  expectProbed?: number;
}

/** A schema whose isolation does not hold: the audit's errors and the probe's failures, one per line. */
export class IsolationError extends Error {
  constructor(
    readonly problems: readonly string[],
    readonly audit: AuditReport,
    readonly probe: ProbeReport,
  ) {
    super(`tenant isolation does not hold:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'IsolationError';
  }
}

/**
 * The paranoid test for any schema, for a vitest or jest suite: audits every tenant table and
 * view found in the catalog (row-level security enabled and forced, pinned policies, safe
 * roles and functions), then probes them as the app role with two tenants' rows (reads,
 * writes, joins and context tricks across tenants; everything rolled back). Throws an
 * `IsolationError` listing every problem. A database where nothing could be probed never
 * passes (`PROBE_INCOMPLETE`, as no tenant table is `TENANT_TABLES_MISSING`): seed rows of at
 * least two tenants in every tenant table first.
 *
 * @example
 * it('isolates every tenant table', async () => {
 *   await seedTwoTenants();
 *   await expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl, expectProbed: 12 });
 * });
 */
export async function expectTenantIsolation(options: IsolationOptions): Promise<{ audit: AuditReport; probe: ProbeReport }> {
  const { ownerUrl, appUrl, appRole, tenantColumn, schemas, expectTables, expectProbed } = options;
  const audited = await audit(ownerUrl, { appRole, tenantColumn, schemas, expectTables });
  const probed = await probe({ ownerUrl, appUrl, tenantColumn, schemas, expectProbed });
  const problems = [
    ...audited.findings.filter((f) => f.severity === 'error').map((f) => `${f.object}: ${f.message} [${f.id}]`),
    ...probed.results.filter((r) => r.status === 'fail').flatMap((r) => r.failures.map((failure) => `${r.object}: ${failure}`)),
  ];
  if (problems.length > 0) throw new IsolationError(problems, audited, probed);
  return { audit: audited, probe: probed };
}
