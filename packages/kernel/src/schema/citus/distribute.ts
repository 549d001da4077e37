import type pg from 'pg';
import { quoteLiteral } from '../../db/sql.js';

/** What `distributeTenantTables` did, for the migration log. */
export interface Distribution {
  /** Tables distributed now, in the order they were, with their distribution column. */
  distributed: {
    /** The table, as `regclass` prints it. */
    table: string;
    /** The column it is distributed by. */
    column: string;
  }[];
  /** Views dropped and created again around the distribution (Citus cannot distribute a table a view depends on). */
  recreatedViews: string[];
}

/**
 * Distributes every table of the current role that has the tenant column and is not yet
 * distributed, by that column, and the table their tenant column references (the tenants
 * table) by its key, all in one colocation group: a tenant's rows of every table live on one
 * node, so joins and foreign keys between them stay on that node. Referenced tables go first.
 * Views over these tables are dropped first and created again after, with their options,
 * grants and comment. Run in the migration's transaction, after the files were applied: the
 * same files describe the schema on plain PostgreSQL and on Citus. `migrate` calls it.
 *
 * @param client - the owner's connection, inside a transaction
 * @param options - `tenantColumn`, the column tables are distributed by (default `tenant_id`)
 * @example
 * ```ts
 * import { distributeTenantTables } from '@rowguard/kernel';
 * await owner.query('begin');
 * const { distributed } = await distributeTenantTables(owner);
 * await owner.query('commit');
 * ```
 */
export async function distributeTenantTables(client: pg.ClientBase, { tenantColumn = 'tenant_id' } = {}): Promise<Distribution> {
  const tenantTables = await client.query<{ oid: number; name: string }>(
    `select c.oid, c.oid::regclass::text as name
       from pg_class c
       join pg_attribute a on a.attrelid = c.oid and a.attname = $1 and not a.attisdropped
      where c.relkind in ('r', 'p') and not c.relispartition
        and pg_has_role(c.relowner, 'USAGE')
        and c.relnamespace not in (select oid from pg_namespace where nspname in ('pg_catalog', 'information_schema', 'citus', 'citus_internal', 'columnar'))
        and not exists (select 1 from pg_dist_partition p where p.logicalrelid = c.oid)`,
    [tenantColumn],
  );
  if (tenantTables.rows.length === 0) return { distributed: [], recreatedViews: [] };
  const oids = tenantTables.rows.map((t) => t.oid);
  // The tables the tenant column points at (tenants.id), distributed by the referenced key.
  const roots = await client.query<{ oid: number; name: string; column: string }>(
    `select distinct f.confrelid as oid, f.confrelid::regclass::text as name, ra.attname as column
       from pg_constraint f
       join pg_attribute ta on ta.attrelid = f.conrelid and ta.attnum = f.conkey[1]
       join pg_attribute ra on ra.attrelid = f.confrelid and ra.attnum = f.confkey[1]
      where f.contype = 'f' and f.conrelid = any($1) and cardinality(f.conkey) = 1 and ta.attname = $2
        and f.confrelid <> all($1)
        and not exists (select 1 from pg_dist_partition p where p.logicalrelid = f.confrelid)`,
    [oids, tenantColumn],
  );
  const tables = [
    ...roots.rows.map((r) => ({ oid: r.oid, name: r.name, column: r.column })),
    ...tenantTables.rows.map((t) => ({ oid: t.oid, name: t.name, column: tenantColumn })),
  ];
  const edges = await client.query<{ from: number; to: number }>(
    `select conrelid as from, confrelid as to from pg_constraint where contype = 'f' and conrelid = any($1) and confrelid = any($1) and conrelid <> confrelid`,
    [tables.map((t) => t.oid)],
  );
  const ordered = referencedFirst(tables, edges.rows);

  const views = await dependentViews(client, ordered.map((t) => t.oid));
  for (const view of [...views].reverse()) await client.query(`drop view ${view.name}`);
  // Triggers on these tables run on the shard, with the row: the ones Rowguard's schema has
  // (updated_at) are safe there, which is what Citus asks to be told.
  await client.query(`set local citus.enable_unsafe_triggers = on`);
  await client.query(`set local citus.multi_shard_modify_mode = 'sequential'`);
  const colocateWith = await existingColocation(client);
  for (const [index, table] of ordered.entries()) {
    const group = index === 0 ? colocateWith : ordered[0]!.name;
    await client.query('select create_distributed_table($1::regclass, $2, colocate_with => $3)', [table.name, table.column, group]);
  }
  for (const view of views) await createViewAgain(client, view);
  return { distributed: ordered.map(({ name, column }) => ({ table: name, column })), recreatedViews: views.map((v) => v.name) };
}

interface SavedView {
  name: string;
  definition: string;
  options: string[] | null;
  comment: string | null;
  grants: { grantee: string; privilege: string }[];
}

async function dependentViews(client: pg.ClientBase, tables: number[]): Promise<SavedView[]> {
  const { rows } = await client.query<SavedView>(
    `with recursive dependents(oid) as (
       select r.ev_class from pg_depend d join pg_rewrite r on r.oid = d.objid
        where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = any($1) and r.ev_class <> d.refobjid
       union
       select r.ev_class from dependents v join pg_depend d on d.refobjid = v.oid and d.classid = 'pg_rewrite'::regclass
         join pg_rewrite r on r.oid = d.objid
        where r.ev_class <> v.oid
     )
     select c.oid::regclass::text as name, pg_get_viewdef(c.oid) as definition, c.reloptions as options,
            obj_description(c.oid, 'pg_class') as comment,
            coalesce((select json_agg(json_build_object('grantee', case when a.grantee = 0 then 'public' else quote_ident(a.grantee::regrole::text) end, 'privilege', a.privilege_type))
                        from aclexplode(c.relacl) a where a.grantee <> c.relowner), '[]') as grants
       from pg_class c
      where c.oid in (select oid from dependents) and c.relkind = 'v'
      order by c.oid`,
    [tables],
  );
  return rows;
}

async function createViewAgain(client: pg.ClientBase, view: SavedView): Promise<void> {
  const options = view.options?.length ? ` with (${view.options.join(', ')})` : '';
  await client.query(`create view ${view.name}${options} as ${view.definition}`);
  for (const { grantee, privilege } of view.grants) await client.query(`grant ${privilege} on ${view.name} to ${grantee}`);
  if (view.comment !== null) await client.query(`comment on view ${view.name} is ${quoteLiteral(view.comment)}`);
}

/** A table already distributed in an earlier run is the group new tables join; otherwise a new group. */
async function existingColocation(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ name: string }>(
    `select p.logicalrelid::regclass::text as name from pg_dist_partition p
      where p.partmethod = 'h' and pg_has_role((select relowner from pg_class where oid = p.logicalrelid), 'USAGE')
      order by p.logicalrelid limit 1`,
  );
  return rows[0]?.name ?? 'none';
}

function referencedFirst<T extends { oid: number }>(tables: T[], edges: { from: number; to: number }[]): T[] {
  const done = new Set<number>();
  const ordered: T[] = [];
  const visit = (table: T, path: Set<number>) => {
    if (done.has(table.oid) || path.has(table.oid)) return;
    path.add(table.oid);
    for (const edge of edges.filter((e) => e.from === table.oid)) {
      const parent = tables.find((t) => t.oid === edge.to);
      if (parent) visit(parent, path);
    }
    done.add(table.oid);
    ordered.push(table);
  };
  for (const table of tables) visit(table, new Set());
  return ordered;
}
