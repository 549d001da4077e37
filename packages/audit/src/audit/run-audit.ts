import type pg from 'pg';
import { RowguardError } from '@rowguard/kernel';
import { readCatalog, type Catalog } from './catalog.js';
import type { Finding, Severity } from './lint.js';
import { LINTS } from './lints/index.js';

/** What to audit, and whose privileges to judge. */
export interface AuditOptions {
  /** The role request traffic uses; default: the one login role, neither superuser nor owner, that may read the tenant tables. */
  appRole?: string;
  /** The column naming a row's tenant: every table with it is a tenant table. Default `tenant_id`. */
  tenantColumn?: string;
  /** The schemas to audit; default: every non-system schema. */
  schemas?: readonly string[];
}

/** What an audit found; the JSON format is exactly this, with a version. */
export interface AuditReport {
  /** Every hole found, errors first, then warnings and notes. */
  findings: Finding[];
  /** How many findings of each severity. */
  summary: Record<Severity, number>;
  /** The app role judged, given or detected; null when there was none to find. */
  appRole: string | null;
  /** How many tables have the tenant column. */
  tenantTables: number;
  /** The schemas audited. */
  schemas: string[];
  /** The server's major.minor version, e.g. `15.9`, as the `server-version` lint judged it. */
  serverVersion: string;
}

const ORDER: Record<Severity, number> = { error: 0, warn: 1, info: 2 };

/**
 * The role request traffic uses, when not given: the one login role, neither superuser nor
 * owner of the tenant tables, that may read them. The connecting role is a candidate like any
 * other, so that the answer is the same through every URL: audited through the app role's own
 * URL, the app role is the connecting role. Several candidates: the caller must choose.
 */
async function detectAppRole(client: pg.ClientBase, tenantColumn: string, schemas: readonly string[] | undefined): Promise<string | null> {
  const { rows } = await client.query<{ rolname: string }>(
    `select r.rolname from pg_roles r
     where r.rolcanlogin and not r.rolsuper
       and exists (
         select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = $1 and not a.attisdropped
         where c.relkind in ('r', 'p') and c.relowner <> r.oid
           and (cardinality($2::text[]) = 0 or n.nspname = any($2))
           and n.nspname not in ('pg_catalog', 'information_schema')
           and has_table_privilege(r.oid, c.oid, 'SELECT'))
     order by 1`,
    [tenantColumn, schemas ?? []],
  );
  if (rows.length > 1) {
    throw new RowguardError('CONFIG_INVALID', `several roles could be the app role (${rows.map((r) => r.rolname).join(', ')}): pass --app-role`);
  }
  return rows[0]?.rolname ?? null;
}

/**
 * Reads the catalog once and runs every lint, on a client you already hold. Never writes.
 * Unlike `audit`, a report of nothing is returned as is: `auditScopeProblem` tells whether it
 * covered anything.
 *
 * @param client - a connection as the owner or a superuser (the catalog must be readable)
 * @param options - the app role, tenant column and schemas to audit
 * @example
 * ```ts
 * import pg from 'pg';
 * import { runAudit } from '@rowguard/audit';
 *
 * const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
 * await client.connect();
 * const report = await runAudit(client, { appRole: 'app', schemas: ['billing'] });
 * await client.end();
 * ```
 */
export async function runAudit(client: pg.ClientBase, { appRole, tenantColumn = 'tenant_id', schemas }: AuditOptions = {}): Promise<AuditReport> {
  const role = appRole ?? (await detectAppRole(client, tenantColumn, schemas));
  if (role) {
    const exists = await client.query('select 1 from pg_roles where rolname = $1', [role]);
    if (!exists.rowCount) throw new RowguardError('CONFIG_INVALID', `there is no role ${role}`);
  }
  const catalog: Catalog = await readCatalog(client, { schemas, tenantColumn, appRole: role });
  const findings = LINTS.flatMap((lint) => lint.run(catalog))
    .map((finding) => asReviewed(catalog, finding))
    .sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.id.localeCompare(b.id) || a.object.localeCompare(b.object));
  if (!role) {
    findings.push({ id: 'app-role-unknown', severity: 'info', object: 'database', message: 'No app role was found or given (--app-role): the checks of its attributes and privileges did not run.' });
  }
  const summary = { error: 0, warn: 0, info: 0 };
  for (const f of findings) summary[f.severity]++;
  const major = Math.floor(catalog.serverVersionNum / 10_000);
  return {
    findings,
    summary,
    appRole: role,
    tenantTables: catalog.tables.filter((t) => t.hasTenantColumn).length,
    schemas: catalog.schemas,
    serverVersion: `${major}.${catalog.serverVersionNum % 100}`,
  };
}

/**
 * A policy someone has read and vouched for (COMMENT ON POLICY … IS 'rowguard:reviewed <why>')
 * keeps its findings in the report, as notes with the reason, so an auditor sees what was
 * accepted and why; they no longer fail the audit or carry a fix.
 */
function asReviewed(catalog: Catalog, finding: Finding): Finding {
  for (const table of catalog.tables) {
    for (const policy of table.policies) {
      if (policy.reviewed === null || finding.object !== `${table.qualified} policy ${policy.name}`) continue;
      return { id: finding.id, severity: 'info', object: finding.object, message: `Reviewed (${policy.reviewed || 'no reason given'}): ${finding.message}` };
    }
  }
  return finding;
}

/**
 * One migration with every fix the findings carry, in report order, each statement once:
 * what `rowguard audit --fix-sql` prints. Review it before applying.
 *
 * @example
 * ```ts
 * import { writeFile } from 'node:fs/promises';
 * import { audit, fixSql } from '@rowguard/audit';
 *
 * await writeFile('fix-isolation.sql', fixSql(await audit(process.env.DATABASE_URL!)));
 * ```
 */
export function fixSql(report: AuditReport): string {
  const lines = ['-- Generated by rowguard audit --fix-sql. Review before applying.', 'begin;', ''];
  // Several findings can carry the same statement (a policy wrong in USING and in WITH CHECK,
  // or both unpinned and unguarded): each statement is written once, under its first finding.
  const written = new Set<string>();
  for (const f of report.findings) {
    if (!f.fix) continue;
    const fixLines = f.fix.split('\n').filter((l) => l.trim() !== '');
    const isStatement = (l: string) => !l.trim().startsWith('--');
    const kept = fixLines.filter((l) => !isStatement(l) || !written.has(l.trim()));
    if (fixLines.some(isStatement) && !kept.some(isStatement)) continue;
    for (const l of kept) if (isStatement(l)) written.add(l.trim());
    lines.push(`-- ${f.id}: ${f.object}`, ...kept, '');
  }
  lines.push('commit;');
  return lines.join('\n') + '\n';
}

/**
 * Why an audit found nothing to judge, so that it must not pass as clean: a --schema that does
 * not exist, no tenant table (a tenant column named nowhere in the audited schemas), or fewer
 * tenant tables than expected. Undefined when the audit covered what it was asked to.
 *
 * @param client - the connection the report was made on
 * @param report - the audit report to judge
 * @param options - the schemas and the number of tenant tables expected
 * @example
 * ```ts
 * const report = await runAudit(client, { schemas: ['billing'] });
 * const problem = await auditScopeProblem(client, report, { schemas: ['billing'], expectTables: 4 });
 * if (problem) throw problem; // CONFIG_INVALID or TENANT_TABLES_MISSING
 * ```
 */
export async function auditScopeProblem(
  client: pg.ClientBase,
  report: AuditReport,
  { schemas, tenantColumn = 'tenant_id', expectTables }: { schemas?: readonly string[]; tenantColumn?: string; expectTables?: number },
): Promise<RowguardError | undefined> {
  if (schemas?.length) {
    const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname = any($1)', [[...schemas]]);
    const missing = schemas.filter((s) => !rows.some((r) => r.nspname === s));
    if (missing.length) return new RowguardError('CONFIG_INVALID', `there is no schema ${missing.join(', ')} (--schema)`);
  }
  if (report.tenantTables === 0) {
    const where = report.schemas.length === 1 ? `schema ${report.schemas[0]}` : `the schemas ${report.schemas.join(', ')}`;
    return new RowguardError('TENANT_TABLES_MISSING', `no table in ${where} has the tenant column "${tenantColumn}" (--tenant-column): nothing to audit`);
  }
  if (expectTables !== undefined && report.tenantTables < expectTables) {
    return new RowguardError('TENANT_TABLES_MISSING', `expected at least ${expectTables} tenant tables, found ${report.tenantTables} (--expect-tables)`);
  }
  return undefined;
}
