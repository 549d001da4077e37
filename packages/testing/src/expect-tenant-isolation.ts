import { audit, probe, type AuditReport, type ProbeReport } from '@rowguard/audit';

/** The database to test, through which roles, and how much it must cover to pass. */
export interface IsolationOptions {
  /** A role that reads every row (a superuser or BYPASSRLS): finds two tenants' rows and reads the catalog. */
  ownerUrl: string;
  /** The application's own role, the one requests use: it attacks. */
  appUrl: string;
  /** The app role's name, when the audit cannot tell it from the catalog. */
  appRole?: string;
  /** The column naming a row's tenant: every table and view with it is tested. Default `tenant_id`. */
  tenantColumn?: string;
  /** The schemas to test; default: every non-system schema. */
  schemas?: readonly string[];
  /** Fail unless at least this many tenant tables are audited. */
  expectTables?: number;
  /** Fail unless at least this many tables and views are probed (each needs rows of two tenants). */
  expectProbed?: number;
}

/**
 * A schema whose isolation does not hold: the audit's errors and the probe's failures, one per line.
 *
 * @example
 * ```ts
 * try {
 *   await expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl });
 * } catch (error) {
 *   if (!(error instanceof IsolationError)) throw error;
 *   console.error(error.problems.join('\n'), error.audit.summary, error.probe.summary);
 * }
 * ```
 */
export class IsolationError extends Error {
  constructor(
    /** Every problem on one line: `object: message [lint id]` from the audit, `object: failure` from the probe. */
    readonly problems: readonly string[],
    /** The whole audit, its warnings and notes included. */
    readonly audit: AuditReport,
    /** The whole probe, what passed and what was not probed included. */
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
 * ```ts
 * it('isolates every tenant table', async () => {
 *   await seedTwoTenants();
 *   await expectTenantIsolation({ ownerUrl: db.superuserUrl, appUrl: db.appUrl, expectProbed: 12 });
 * });
 * ```
 */
export async function expectTenantIsolation(options: IsolationOptions): Promise<{
  /** The audit that passed: its warnings and notes, for a check of your own. */
  audit: AuditReport;
  /** The probe that passed: what was attacked and what was not probed. */
  probe: ProbeReport;
}> {
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
