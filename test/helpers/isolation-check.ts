import type pg from 'pg';
import { asTenant, FIXTURES, insertStatement, type TenantSeed } from './fixtures.js';

const FEATURE_NOT_SUPPORTED = '0A000';
const RLS_OR_PRIVILEGE = '42501';
const FOREIGN_KEY = '23503';

/** Tables with a tenant column, read from the catalog: every table with tenant_id, and tenants (by id). */
export async function discoverTenantTables(client: pg.ClientBase): Promise<{ table: string; column: string }[]> {
  const { rows } = await client.query<{ table: string; column: string }>(`
    select c.relname as table, a.attname as column
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and not a.attisdropped
    where n.nspname = 'public' and c.relkind in ('r', 'p')
      and (a.attname = 'tenant_id' or (c.relname = 'tenants' and a.attname = 'id'))
    order by 1`);
  return rows;
}

/**
 * Views (plain or materialized) that read a table with a tenant_id column, in any schema but
 * the system's: the service's own, and the record views made per tenant (tenant_<id>). Names
 * are quoted and qualified when not in public.
 */
export async function discoverTenantViews(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ view: string }>(`
    select distinct case when n.nspname = 'public' then quote_ident(v.relname) else quote_ident(n.nspname) || '.' || quote_ident(v.relname) end as view
    from pg_class v
    join pg_namespace n on n.oid = v.relnamespace
    join pg_rewrite r on r.ev_class = v.oid
    join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
    join pg_attribute a on a.attrelid = d.refobjid and a.attname = 'tenant_id'
    where v.relkind in ('v', 'm') and n.nspname not in ('pg_catalog', 'information_schema', 'rowguard') and d.refobjid <> v.oid
    order by 1`);
  return rows.map((r) => r.view);
}

/** The tenant whose record view this is (schema tenant_<id without dashes>), or null for a view of every tenant. */
function viewTenant(view: string): string | null {
  const hex = /^"?tenant_([0-9a-f]{32})"?\./.exec(view)?.[1];
  return hex ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : null;
}

/** Foreign keys of `table` to other tables: local and referenced column names. */
async function foreignKeys(client: pg.ClientBase, table: string) {
  const { rows } = await client.query<{ parent: string; columns: string[]; parent_columns: string[] }>(
    `select p.relname as parent,
            array(select attname from unnest(k.conkey) with ordinality u(n, i) join pg_attribute on attrelid = k.conrelid and attnum = u.n order by u.i)::text[] as columns,
            array(select attname from unnest(k.confkey) with ordinality u(n, i) join pg_attribute on attrelid = k.confrelid and attnum = u.n order by u.i)::text[] as parent_columns
     from pg_constraint k join pg_class p on p.oid = k.confrelid
     where k.contype = 'f' and k.conrelid = $1::regclass`,
    [`public."${table}"`],
  );
  return rows;
}

async function errorCode(fn: () => Promise<unknown>): Promise<string | null> {
  try {
    await fn();
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no-code';
  }
}

/**
 * The paranoid check, run as the app role: every way tenant A could see or touch tenant B's
 * rows of `table`. Returns what went wrong; empty means isolated.
 */
export async function checkTableIsolation(app: pg.Client, table: string, column: string, a: TenantSeed, b: TenantSeed): Promise<string[]> {
  const problems: string[] = [];
  const t = `"${table}"`;
  const c = `"${column}"`;
  const readable = (await app.query(`select has_table_privilege(current_user, $1, 'SELECT') as ok`, [t])).rows[0].ok;
  if (!readable) {
    // Write-only for the app role (the outbox): reading must be refused outright.
    const code = await errorCode(() => asTenant(app, a, () => app.query(`select 1 from ${t}`)));
    if (code !== RLS_OR_PRIVILEGE) problems.push(`the app role can read ${table}, which it should only write`);
  }
  for (const seed of readable ? [a, b] : []) {
    const rows = await asTenant(app, seed, async () => (await app.query(`select ${c}::text as tenant from ${t}`)).rows);
    if (rows.length === 0) problems.push(`tenant ${seed === a ? 'A' : 'B'} sees none of its own rows`);
    const foreign = rows.filter((r) => r.tenant !== seed.tenantId).length;
    if (foreign > 0) problems.push(`tenant ${seed === a ? 'A' : 'B'} sees ${foreign} rows of other tenants`);
  }
  if (readable) {
    const withoutContext = await app.query(`select count(*)::int as n from ${t}`);
    if (withoutContext.rows[0].n !== 0) problems.push(`without a tenant context ${withoutContext.rows[0].n} rows are visible`);
  }

  const fixture = FIXTURES[table];
  if (!fixture) {
    problems.push(`no fixture row for ${table}: add one to test/helpers/fixtures.ts`);
    return problems;
  }
  const foreignRow = insertStatement(table, fixture({ ...b, ids: b.ids }));
  const insertCode = await errorCode(() => asTenant(app, a, () => app.query(foreignRow.text, foreignRow.values)));
  if (insertCode !== RLS_OR_PRIVILEGE) problems.push(`inserting a row for B under A gave ${insertCode ?? 'success'}, not ${RLS_OR_PRIVILEGE}`);

  for (const verb of ['update', 'delete'] as const) {
    const sql = verb === 'update' ? `update ${t} set ${c} = ${c} where ${c} = $1` : `delete from ${t} where ${c} = $1`;
    let affected = 0;
    const code = await errorCode(async () => {
      affected = (await asTenant(app, a, () => app.query(sql, [b.tenantId]))).rowCount ?? 0;
    });
    if (code !== null && code !== RLS_OR_PRIVILEGE) problems.push(`${verb} of B's rows under A failed with ${code}`);
    if (affected !== 0) problems.push(`${verb} under A affected ${affected} of B's rows`);
  }

  const moveCode = await errorCode(() => asTenant(app, a, () => app.query(`update ${t} set ${c} = $1 where ${c} = $2`, [b.tenantId, a.tenantId])));
  // Citus refuses any change of a distribution column (0A000), before row-level security.
  const moveRefused = moveCode === RLS_OR_PRIVILEGE || (moveCode === FEATURE_NOT_SUPPORTED && (await distributedBy(app, table)) === column);
  if (!moveRefused) problems.push(`moving A's rows to B gave ${moveCode ?? 'success'}, not ${RLS_OR_PRIVILEGE}`);

  const insertable = (await app.query(`select has_table_privilege(current_user, $1, 'INSERT') as ok`, [t])).rows[0].ok;
  for (const fk of insertable ? await foreignKeys(app, table) : []) {
    if (fk.columns.length === 1 && fk.columns[0] === column) continue; // the tenant reference itself
    const parentId = b.ids[fk.parent];
    if (!parentId) continue;
    const row = { ...fixture(a) } as Record<string, unknown>;
    fk.columns.forEach((col, i) => {
      if (col !== column) row[col] = fk.parent_columns[i] === 'tenant_id' ? b.tenantId : parentId;
    });
    // A comment belongs to one task or one document: clear the other reference.
    if (table === 'comments' && fk.columns.includes('document_id')) row.task_id = null;
    // A field refers to a type only as a reference field.
    if (table === 'record_fields' && fk.columns.includes('target_type')) Object.assign(row, { kind: 'reference', on_delete: 'restrict' });
    const statement = insertStatement(table, row);
    // Committed, so that a key checked at commit (deferrable) is checked too; on Citus SET
    // CONSTRAINTS would not reach the worker that holds the row. The row must never get in.
    const code = await errorCode(() => asTenant(app, a, () => app.query(statement.text, statement.values), { commit: true }));
    if (code !== FOREIGN_KEY) problems.push(`a row of A pointing at B's ${fk.parent} via (${fk.columns.join(', ')}) gave ${code ?? 'success'}, not ${FOREIGN_KEY}`);
  }
  return problems;
}

/**
 * A view over tenant tables shows A only A's rows, B only B's, and nothing without context.
 * A tenant's own view (a record view) shows its tenant its rows and any other tenant none.
 */
export async function checkViewIsolation(app: pg.Client, view: string, a: TenantSeed, b: TenantSeed): Promise<string[]> {
  const problems: string[] = [];
  const owner = viewTenant(view);
  for (const seed of [a, b]) {
    const rows = await asTenant(app, seed, async () => (await app.query(`select tenant_id::text as tenant from ${view}`)).rows);
    const own = owner === null || owner === seed.tenantId;
    if (own && rows.length === 0) problems.push(`view ${view} shows a tenant none of its own rows`);
    if (rows.some((r) => r.tenant !== seed.tenantId)) problems.push(`view ${view} shows rows of other tenants`);
  }
  const { rows } = await app.query(`select count(*)::int as n from ${view}`);
  if (rows[0].n !== 0) problems.push(`view ${view} shows ${rows[0].n} rows without a tenant context`);
  return problems;
}

/** The column Citus distributes `table` by, or null (not distributed, or plain PostgreSQL). */
async function distributedBy(client: pg.Client, table: string): Promise<string | null> {
  const { rows } = await client.query<{ citus: boolean }>(`select to_regclass('pg_catalog.pg_dist_partition') is not null as citus`);
  if (!rows[0]!.citus) return null;
  const partition = await client.query<{ column: string }>(`select column_to_column_name(logicalrelid, partkey) as column from pg_dist_partition where logicalrelid = $1::regclass`, [`"${table}"`]);
  return partition.rows[0]?.column ?? null;
}
