import { randomUUID } from 'node:crypto';
import { contextProof, PROOF_SETTING, quoteIdent, quoteLiteral, readContextKey, RowguardError, TENANT_SETTING } from '@rowguard/kernel';
import type pg from 'pg';
import { tenantSettingOf } from '../audit/policy-expression.js';

/** What the probe attacks, and through which setting. */
export interface ProbeOptions {
  /** The column naming a row's tenant: every table and view with it is attacked. Default `tenant_id`. */
  tenantColumn?: string;
  /** The setting policies read for the tenant; default: the one most tenant tables' policies read, else app.tenant_id. */
  setting?: string;
  /** The schemas to probe; default: every non-system schema. */
  schemas?: readonly string[];
  /** Called before each table or view is attacked, with its place in the run (from 1). */
  onProgress?: (object: string, index: number, total: number) => void;
}

/** Every attack on one table or view, or the SET ROLE escapes, and how they went. */
export interface ProbeResult {
  /** What was attacked: `schema.name`, or `SET ROLE to other roles`. */
  object: string;
  /** A table is also written to; a view is only read; `roles` is the SET ROLE escapes. */
  kind: 'table' | 'view' | 'roles';
  /** `fail` when anything leaked or was allowed; `not-probed` without rows of two tenants. */
  status: 'pass' | 'fail' | 'not-probed';
  /** What leaked or was allowed; empty on pass. */
  failures: string[];
  /** Why it was not probed. */
  reason?: string;
}

/** What a probe tried and found: one result per table and view, then the role escapes. */
export interface ProbeReport {
  /** The setting the probe put each tenant in. */
  setting: string;
  /** Tables, then views, by name; last, the SET ROLE escapes. */
  results: ProbeResult[];
  /** How the results went; any `fail` is a leak. */
  summary: {
    /** Results where every attack was refused or saw only its own tenant. */
    pass: number;
    /** Results with at least one leak or allowed write. */
    fail: number;
    /** Tables and views without rows of two tenants to attack with. */
    notProbed: number;
  };
}

/** Settings applications commonly use to switch RLS off; none may widen what the app role sees. */
const BYPASS_SETTINGS = ['app.bypass_rls', 'app.bypass', 'app.is_admin', 'app.admin', 'app.superuser', 'app.role', 'rls.bypass', 'rowguard.bypass'];
const SQLSTATE_INSUFFICIENT_PRIVILEGE = '42501';

interface Target {
  schema: string;
  name: string;
  kind: 'table' | 'view';
}

/**
 * Attacks isolation as the app role: for each tenant table and each view over one that holds
 * rows of two tenants, tries to read, write and escape across tenants. Every attempt runs in
 * a transaction that is rolled back, so the database is left as it was. `owner` must be able
 * to read every row (a superuser or BYPASSRLS role) to learn which tenants exist.
 *
 * @example
 * ```ts
 * const report = await runProbe(ownerClient, appClient, {
 *   onProgress: (object, index, total) => console.error(`probing ${index}/${total} ${object}`),
 * });
 * for (const r of report.results) if (r.status === 'fail') console.error(r.object, r.failures);
 * ```
 */
export async function runProbe(owner: pg.ClientBase, app: pg.ClientBase, options: ProbeOptions = {}): Promise<ProbeReport> {
  const { tenantColumn = 'tenant_id', schemas = [], onProgress } = options;
  const { rows: targets } = await owner.query<Target>(
    `select n.nspname as schema, c.relname as name, case when c.relkind in ('r', 'p') then 'table' else 'view' end as kind
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attname = $1 and not a.attisdropped
     where c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition
       and n.nspname not in ('pg_catalog', 'information_schema') and (cardinality($2::text[]) = 0 or n.nspname = any($2))
     order by 3, 1, 2`,
    [tenantColumn, schemas],
  );
  const setting = options.setting ?? (await settingOf(owner, targets)) ?? TENANT_SETTING;
  // A database with Rowguard's context key: the probe signs like the kernel (the owner can read
  // the key). Where the policies require the proof (signed-context on), it also tries a context
  // without its proof, which must see nothing.
  const contextKey = await readContextKey(owner);
  const { rows: signedRows } = await owner.query<{ signed: boolean }>(`select exists (select 1 from pg_policies where qual like '%rowguard.tenant_id()%') as signed`);
  const requireProof = contextKey !== undefined && signedRows[0]!.signed;
  const results: ProbeResult[] = [];
  for (const [index, target] of targets.entries()) {
    const object = `${target.schema}.${target.name}`;
    onProgress?.(object, index + 1, targets.length);
    results.push(await probeObject(owner, app, target, { tenantColumn, setting, contextKey, requireProof }));
  }
  results.push(await probeRoleEscapes(app));
  return {
    setting,
    results,
    summary: {
      pass: results.filter((r) => r.status === 'pass').length,
      fail: results.filter((r) => r.status === 'fail').length,
      notProbed: results.filter((r) => r.status === 'not-probed').length,
    },
  };
}

/** The setting the targets' policies read the tenant from: a schema of others may not use app.tenant_id. */
async function settingOf(owner: pg.ClientBase, targets: Target[]): Promise<string | undefined> {
  const { rows } = await owner.query<{ expressions: (string | null)[] }>(
    `select array_agg(e) as expressions
     from pg_policy p cross join lateral (values (pg_get_expr(p.polqual, p.polrelid)), (pg_get_expr(p.polwithcheck, p.polrelid))) v(e)
     where p.polrelid = any($1::regclass[]) group by p.polrelid`,
    [targets.filter((t) => t.kind === 'table').map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`)],
  );
  return tenantSettingOf(rows.map((r) => r.expressions));
}

async function probeObject(
  owner: pg.ClientBase,
  app: pg.ClientBase,
  target: Target,
  { tenantColumn, setting, contextKey, requireProof }: { tenantColumn: string; setting: string; contextKey: Buffer | undefined; requireProof: boolean },
): Promise<ProbeResult> {
  const object = `${target.schema}.${target.name}`;
  const relation = `${quoteIdent(target.schema)}.${quoteIdent(target.name)}`;
  const column = quoteIdent(tenantColumn);
  const { rows: tenants } = await owner.query<{ tenant: string; n: number }>(
    `select ${column}::text as tenant, count(*)::int as n from ${relation} where ${column} is not null group by 1 order by 2 desc limit 2`,
  );
  if (tenants.length < 2) {
    return { object, kind: target.kind, status: 'not-probed', failures: [], reason: `needs rows of two tenants; the owner connection sees ${tenants.length}` };
  }
  const [a, b] = tenants as [{ tenant: string; n: number }, { tenant: string; n: number }];
  const failures: string[] = [];
  // SET LOCAL, as the kernel sets it: the form Citus passes on to its workers.
  const forge = (tenant: string) => app.query(`set local ${setting} = ${quoteLiteral(tenant)}`);
  const context = async (tenant: string) => {
    await forge(tenant);
    if (contextKey) await app.query(`select set_config('${PROOF_SETTING}', $1, true)`, [contextProof(contextKey, tenant)]);
  };

  await app.query('begin');
  try {
    // Each attempt is undone whatever its outcome: a SET LOCAL or a write that succeeded would
    // otherwise survive RELEASE SAVEPOINT and colour every attempt after it.
    const attempt = async <T>(fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> => {
      await app.query('savepoint probe');
      try {
        return { ok: true, value: await fn() };
      } catch (error) {
        return { ok: false, code: (error as { code?: string }).code ?? 'error' };
      } finally {
        await app.query('rollback to savepoint probe');
      }
    };
    const visible = async () => (await app.query<{ n: number; foreign: number }>(`select count(*)::int as n, count(*) filter (where ${column}::text <> current_setting(${quoteLiteral(setting)}, true))::int as foreign from ${relation}`)).rows[0]!;

    const none = await attempt(async () => (await app.query<{ n: number }>(`select count(*)::int as n from ${relation}`)).rows[0]!.n);
    if (none.ok && none.value > 0) failures.push(`without a tenant context ${none.value} rows are visible`);

    for (const tenant of [a, b]) {
      const seen = await attempt(async () => {
        await context(tenant.tenant);
        return visible();
      });
      if (seen.ok && seen.value.foreign > 0) failures.push(`as tenant ${tenant.tenant} ${seen.value.foreign} rows of other tenants are visible`);
      if (seen.ok && seen.value.n !== tenant.n) failures.push(`as tenant ${tenant.tenant} ${seen.value.n} rows are visible, not its ${tenant.n}`);
    }
    const unknown = await attempt(async () => {
      await context(randomUUID());
      return (await app.query<{ n: number }>(`select count(*)::int as n from ${relation}`)).rows[0]!.n;
    });
    if (unknown.ok && unknown.value > 0) failures.push(`an unknown tenant sees ${unknown.value} rows`);

    if (requireProof) {
      // What injected SQL could do: name another tenant without being able to sign it.
      const forged = await attempt(async () => {
        await context(a.tenant);
        await forge(b.tenant);
        return (await app.query<{ n: number }>(`select count(*)::int as n from ${relation}`)).rows[0]!.n;
      });
      if (forged.ok && forged.value > 0) failures.push(`a context naming tenant ${b.tenant} without its proof sees ${forged.value} rows`);
    }

    for (const name of BYPASS_SETTINGS) {
      const widened = await attempt(async () => {
        await context(a.tenant);
        await app.query(`set local ${name} = 'on'`);
        return visible();
      });
      if (widened.ok && widened.value.foreign > 0) failures.push(`setting ${name} = on shows other tenants' rows`);
    }

    if (target.kind === 'table') {
      const { rows: sample } = await owner.query(`select to_jsonb(t) as row from ${relation} t where ${column}::text = $1 limit 1`, [a.tenant]);
      const copy = { ...(sample[0]!.row as Record<string, unknown>), [tenantColumn]: b.tenant };
      const inserted = await attempt(async () => {
        await context(a.tenant);
        // INSERT … VALUES: Citus runs INSERT … SELECT through COPY, which fails before any policy.
        await app.query(`insert into ${relation} values ((jsonb_populate_record(null::${relation}, $1)).*)`, [JSON.stringify(copy)]);
      });
      if (inserted.ok) failures.push(`as tenant ${a.tenant} a row of tenant ${b.tenant} could be inserted`);
      // Only a policy's rejection proves isolation; a constraint, a trigger or a type error that
      // failed first says nothing about what the policy would have let through.
      else if (inserted.code !== SQLSTATE_INSUFFICIENT_PRIVILEGE) {
        failures.push(`inserting a row of tenant ${b.tenant} as tenant ${a.tenant} failed with ${inserted.code}, not a policy rejection (42501)`);
      }
      const moved = await attempt(async () => {
        await context(a.tenant);
        return (await app.query(`update ${relation} set ${column} = $1 where ${column}::text = $2`, [b.tenant, a.tenant])).rowCount ?? 0;
      });
      if (moved.ok && moved.value > 0) failures.push(`as tenant ${a.tenant} its rows could be moved to tenant ${b.tenant}`);
      for (const verb of ['update', 'delete'] as const) {
        const touched = await attempt(async () => {
          await context(a.tenant);
          const sql = verb === 'update' ? `update ${relation} set ${column} = ${column} where ${column}::text = $1` : `delete from ${relation} where ${column}::text = $1`;
          return (await app.query(sql, [b.tenant])).rowCount ?? 0;
        });
        if (touched.ok && touched.value > 0) failures.push(`as tenant ${a.tenant} an ${verb} touched ${touched.value} rows of tenant ${b.tenant}`);
        if (!touched.ok && touched.code !== SQLSTATE_INSUFFICIENT_PRIVILEGE) failures.push(`a ${verb} of another tenant's rows failed unexpectedly (${touched.code})`);
      }
    }
  } finally {
    await app.query('rollback');
  }
  return { object, kind: target.kind, status: failures.length ? 'fail' : 'pass', failures };
}

/** SET ROLE to every role the app role can name must be refused, or lead nowhere new. */
async function probeRoleEscapes(app: pg.ClientBase): Promise<ProbeResult> {
  const failures: string[] = [];
  const { rows } = await app.query<{ rolname: string; bypasses: boolean }>(
    `select r.rolname, (r.rolsuper or r.rolbypassrls or exists (select 1 from pg_class c where c.relowner = r.oid and c.relkind in ('r', 'p'))) as bypasses
     from pg_roles r where r.rolname <> current_user and r.rolname not like 'pg\\_%' order by 1`,
  );
  await app.query('begin');
  try {
    for (const role of rows) {
      await app.query('savepoint probe');
      try {
        await app.query(`set local role ${quoteIdent(role.rolname)}`);
        // Becoming a plain role changes nothing; becoming one that bypasses RLS or owns tables does.
        if (role.bypasses) failures.push(`the app role can SET ROLE ${role.rolname}, which bypasses row-level security or owns tables`);
      } catch {
        // refused: as it should be
      } finally {
        await app.query('rollback to savepoint probe');
      }
    }
  } finally {
    await app.query('rollback');
  }
  return { object: 'SET ROLE to other roles', kind: 'roles', status: failures.length ? 'fail' : 'pass', failures };
}

/**
 * Why a probe proved too little to pass: nothing probed (no table or view holds rows of two
 * tenants), or fewer tables and views than expected. Undefined when it probed enough.
 *
 * @example
 * ```ts
 * const report = await runProbe(ownerClient, appClient);
 * const problem = incompleteProbe(report, 12);
 * if (problem) throw problem; // PROBE_INCOMPLETE: it proved too little to pass
 * ```
 */
export function incompleteProbe(report: ProbeReport, expectProbed: number | undefined): RowguardError | undefined {
  const probed = report.results.filter((r) => r.kind !== 'roles' && r.status !== 'not-probed').length;
  if (probed === 0) {
    return new RowguardError('PROBE_INCOMPLETE', 'nothing was probed: no table or view holds rows of two tenants (seed two tenants, or check --schema and --tenant-column)');
  }
  if (expectProbed !== undefined && probed < expectProbed) {
    return new RowguardError('PROBE_INCOMPLETE', `${probed} tables and views probed, expected at least ${expectProbed} (the rest lack rows of two tenants)`);
  }
  return undefined;
}
