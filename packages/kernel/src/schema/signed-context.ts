import type pg from 'pg';
import { RowguardError } from '../errors.js';
import { quoteIdent, tenantPredicate } from '../db/sql.js';
import { isCitus } from './citus/database.js';

/** The tenant policies tenantTableSql writes; their predicate is what the option changes. */
const TENANT_POLICIES = ['tenant_isolation', 'tenant_isolation_required'];

/** What `setSignedContext` did. */
export interface SignedContextChange {
  /** Policies rewritten, as "schema.table policy". */
  changed: string[];
  /** Every tenant policy now reads the signed context. */
  signed: boolean;
}

/**
 * Turns the signed tenant context on or off for every tenant policy written by
 * tenantTableSql (tenant_isolation, tenant_isolation_required) in `schemas`: on, they accept a
 * tenant only with its proof (`rowguard.tenant_id()`, migration 0013); off, they trust
 * `app.tenant_id` alone. Runs as the owner, in one transaction; rewrites only what differs.
 * The kernel must sign (`contextKey`) before this is turned on, or tenants see nothing.
 *
 * @param owner - a connection as the owner of the tenant tables
 * @param signed - `true` for policies that require the proof, `false` for plain ones
 * @param options - the schemas whose tenant tables change
 * @example
 * await setSignedContext(ownerClient, true);
 */
export async function setSignedContext(owner: pg.ClientBase, signed: boolean, { schemas = ['public'] }: { schemas?: readonly string[] } = {}): Promise<SignedContextChange> {
  if (signed) {
    const { rows } = await owner.query<{ exists: boolean }>(`select to_regprocedure('rowguard.tenant_id()') is not null as exists`);
    if (!rows[0]!.exists) throw new RowguardError('CONFIG_INVALID', 'this database has no rowguard.tenant_id(): apply the migrations first (rowguard migrate)');
    // Citus refuses a policy with a subquery on a distributed table, and the proof's key lives
    // on the coordinator only.
    if (await isCitus(owner)) throw new RowguardError('CONFIG_INVALID', 'the signed tenant context is not available on Citus: its policies read the key through a subquery, which Citus refuses on distributed tables');
  }
  const { rows: policies } = await owner.query<{ schema: string; table: string; policy: string; qual: string }>(
    `select schemaname as schema, tablename as table, policyname as policy, qual
     from pg_policies where schemaname = any($1) and policyname = any($2) order by 1, 2, 3`,
    [schemas, TENANT_POLICIES],
  );
  const changed: string[] = [];
  await owner.query('begin');
  try {
    for (const { schema, table, policy, qual } of policies) {
      // The compared column leads the expression as PostgreSQL prints it: (tenant_id = …).
      const column = /^\(+"?([^"\s=]+)"? = /.exec(qual)?.[1];
      if (!column) continue;
      const predicate = tenantPredicate(column, { signed });
      if (qual.includes('rowguard.tenant_id()') === signed) continue;
      await owner.query(`alter policy ${quoteIdent(policy)} on ${quoteIdent(schema)}.${quoteIdent(table)} using (${predicate}) with check (${predicate})`);
      changed.push(`${schema}.${table} ${policy}`);
    }
    await owner.query('commit');
  } catch (error) {
    await owner.query('rollback').catch(() => undefined);
    throw error;
  }
  return { changed, signed };
}
