import pg from 'pg';
import { quoteIdent, quoteLiteral } from '../db/sql.js';

/**
 * Whether the connected database runs Citus: the `citus` extension is installed in it.
 *
 * @param client - any connection to the database
 * @example
 * ```ts
 * import { isCitus } from '@rowguard/kernel';
 * if (await isCitus(owner)) console.log('tenant tables are distributed by tenant_id');
 * ```
 */
export async function isCitus(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ citus: boolean }>(`select exists (select 1 from pg_extension where extname = 'citus') as citus`);
  return rows[0]!.citus;
}

/**
 * Creates `database` on every node of the Citus cluster the superuser `admin` is connected to
 * (its database lists the nodes in pg_dist_node), with the citus extension and the workers
 * registered: Citus keeps its metadata per database. Then makes `owner` known to Citus in it:
 * a role created from another database is not, and the first object the owner creates would
 * make Citus replay `ALTER ROLE … NOSUPERUSER` on the workers as the owner, which only a
 * superuser may. An object given to the owner by the superuser registers the role.
 */
export async function createCitusDatabase(admin: pg.ClientBase, adminUrl: string, database: string, owner: string): Promise<void> {
  const nodes = await admin.query<{ nodename: string; nodeport: number; coordinator: boolean }>(
    `select nodename, nodeport, groupid = 0 as coordinator from pg_dist_node where noderole = 'primary' and isactive order by groupid`,
  );
  await admin.query(`set citus.enable_create_database_propagation = on`);
  try {
    await admin.query(`create database ${quoteIdent(database)} owner ${quoteIdent(owner)}`);
  } finally {
    await admin.query(`reset citus.enable_create_database_propagation`);
  }
  const coordinator = nodes.rows.find((n) => n.coordinator);
  for (const node of nodes.rows) {
    await onNode(adminUrl, node, database, (client) => client.query('create extension if not exists citus'));
  }
  await onNode(adminUrl, coordinator, database, async (client) => {
    if (coordinator) await client.query('select citus_set_coordinator_host($1, $2)', [coordinator.nodename, coordinator.nodeport]);
    for (const worker of nodes.rows.filter((n) => !n.coordinator)) await client.query('select citus_add_node($1, $2)', [worker.nodename, worker.nodeport]);
    await client.query(`create function public.rowguard_register_owner() returns int language sql as 'select 1'`);
    await client.query(`alter function public.rowguard_register_owner() owner to ${quoteIdent(owner)}`);
    await client.query('drop function public.rowguard_register_owner()');
  });
}

/** Whether the superuser's database is a Citus coordinator with workers: new databases are created on every node. */
export async function isCitusCoordinator(admin: pg.ClientBase): Promise<boolean> {
  if (!(await isCitus(admin))) return false;
  const { rows } = await admin.query<{ workers: boolean }>(`select exists (select 1 from pg_dist_node where groupid <> 0) as workers`);
  return rows[0]!.workers;
}

async function onNode(adminUrl: string, node: { nodename: string; nodeport: number } | undefined, database: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const url = new URL(adminUrl);
  if (node) {
    url.hostname = node.nodename;
    url.port = String(node.nodeport);
  }
  url.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: url.toString(), application_name: 'rowguard bootstrap' });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

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

/**
 * Citus (13.2 and before) copies a table's policies to its shards and to the workers' copies
 * of the table without `AS RESTRICTIVE`: on the nodes that hold the rows, a restrictive policy
 * becomes permissive and widens what it was meant to narrow (Rowguard's permission policies
 * would let any writer insert rows of another tenant). This puts every restrictive policy of
 * the current role's distributed tables back as restrictive wherever it is not, and returns how
 * many tables needed it. Run by `migrate` on Citus, and needed again after shards are moved,
 * split or isolated, which copy the policies the same way; `shardPolicyProblems` tells.
 *
 * @param client - the owner's connection on the coordinator, outside a transaction
 * @example
 * ```ts
 * import { repairShardPolicies } from '@rowguard/kernel';
 * // after citus_rebalance_start() or isolate_tenant_to_new_shard()
 * const tables = await repairShardPolicies(owner);
 * ```
 */
export async function repairShardPolicies(client: pg.ClientBase): Promise<number> {
  const mismatches = await policyMismatches(client);
  if (mismatches.length === 0) return 0;
  const tables = [...new Set(mismatches.map((m) => m.table))];
  const { rows: policies } = await client.query<{ table: string; name: string; definition: string }>(
    `select p.logicalrelid::regclass::text as table, pol.polname as name,
            'as restrictive for ' || case pol.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update' when 'd' then 'delete' else 'all' end
            || ' to ' || (select string_agg(case when r = 0 then 'public' else quote_ident(r::regrole::text) end, ', ') from unnest(pol.polroles) r)
            || coalesce(' using (' || pg_get_expr(pol.polqual, pol.polrelid) || ')', '')
            || coalesce(' with check (' || pg_get_expr(pol.polwithcheck, pol.polrelid) || ')', '') as definition
       from pg_dist_partition p join pg_policy pol on pol.polrelid = p.logicalrelid
      where not pol.polpermissive and p.logicalrelid::regclass::text = any($1)
      order by 1, 2`,
    [tables],
  );
  // One block for every worker: each puts back what it holds of the listed relations (the
  // shards and its copy of the table); the text travels as data, never as format().
  const steps = policies.map((policy) => {
    const relations = mismatches.filter((m) => m.table === policy.table).map((m) => m.relation);
    return `foreach relation in array ${quoteLiteral(`{${[...new Set(relations)].map((r) => `"${r.replaceAll('"', '\\"')}"`).join(',')}}`)}::text[] loop
      if exists (select 1 from pg_policy where polrelid = to_regclass(relation) and polname = ${quoteLiteral(policy.name)} and polpermissive) then
        execute format('drop policy %I on %s', ${quoteLiteral(policy.name)}, relation);
        execute format('create policy %I on %s %s', ${quoteLiteral(policy.name)}, relation, ${quoteLiteral(policy.definition)});
      end if;
    end loop;`;
  });
  const block = `do $repair$ declare relation text; begin
    perform set_config('citus.enable_ddl_propagation', 'off', true);
    ${steps.join('\n')}
  end $repair$`;
  const results = await client.query<{ nodeport: number; success: boolean; result: string }>('select nodeport, success, result from run_command_on_workers($1)', [block]);
  if (mismatches.some((m) => m.onCoordinator)) await client.query(block);
  const failed = results.rows.find((r) => !r.success);
  if (failed) throw new Error(`the worker at port ${failed.nodeport} refused: ${failed.result}`);
  return tables.length;
}

/** A shard, or a worker's copy of a distributed table, whose policies are not the table's. */
export interface ShardPolicyProblem {
  /** The distributed table, as `regclass` prints it. */
  table: string;
  /** The shard (`projects_102008`), or the table's name for a worker's copy of it. */
  relation: string;
  /** The port of the node that holds it. */
  nodeport: number;
}

/**
 * The shards and worker copies of the current role's distributed tables whose policies are
 * not the table's own (name, permissive or restrictive, command, roles, expressions); empty
 * when every node enforces what the coordinator shows.
 *
 * @param client - the owner's connection on the coordinator
 * @example
 * ```ts
 * import { shardPolicyProblems } from '@rowguard/kernel';
 * const problems = await shardPolicyProblems(owner);
 * if (problems.length > 0) throw new Error(`${problems[0]!.relation} does not enforce the policies of ${problems[0]!.table}`);
 * ```
 */
export async function shardPolicyProblems(client: pg.ClientBase): Promise<ShardPolicyProblem[]> {
  return (await policyMismatches(client)).map(({ table, relation, nodeport }) => ({ table, relation, nodeport }));
}

// One line per policy: what it is and does, with role names rather than OIDs, which differ
// from node to node.
const POLICY_SIGNATURE = `string_agg(polname || ' ' || case when polpermissive then 'permissive' else 'restrictive' end || ' ' || polcmd::text || ' '
  || (select string_agg(case when r = 0 then 'public' else r::regrole::text end, ',' order by 1) from unnest(polroles) r) || ' '
  || md5(coalesce(pg_get_expr(polqual, polrelid), '') || '|' || coalesce(pg_get_expr(polwithcheck, polrelid), '')), '; ' order by polname)`;

interface Mismatch extends ShardPolicyProblem {
  onCoordinator?: boolean;
}

/** Compares, in one round trip to the workers, the policies of every shard and table copy with the table's on the coordinator. */
async function policyMismatches(client: pg.ClientBase): Promise<Mismatch[]> {
  const owned = `pg_has_role((select relowner from pg_class where oid = p.logicalrelid), 'USAGE')`;
  const expected = await client.query<{ table: string; signature: string }>(
    `select p.logicalrelid::regclass::text as table, coalesce((select ${POLICY_SIGNATURE} from pg_policy where polrelid = p.logicalrelid), '') as signature
       from pg_dist_partition p where ${owned}`,
  );
  if (expected.rows.length === 0) return [];
  const placements = await client.query<{ table: string; relation: string; nodeport: number }>(
    `select p.logicalrelid::regclass::text as table, shard_name(s.logicalrelid, s.shardid) as relation, sp.nodeport
       from pg_dist_partition p join pg_dist_shard s using (logicalrelid) join pg_dist_shard_placement sp using (shardid)
      where ${owned}`,
  );
  const workers = await client.query<{ nodeport: number; success: boolean; result: string }>(
    `select nodeport, success, result from run_command_on_workers($1)`,
    [`select coalesce(json_object_agg(polrelid::regclass::text, signature), '{}') from (select polrelid, ${POLICY_SIGNATURE} as signature from pg_policy group by polrelid) s`],
  );
  const onNode = new Map<number, Record<string, string>>();
  // A coordinator that holds shards too (citus_set_node_property … shouldhaveshards) is read here.
  const coordinator = await client.query<{ nodeport: number; signatures: Record<string, string> }>(
    `select nodeport, (select coalesce(json_object_agg(polrelid::regclass::text, signature), '{}') from (select polrelid, ${POLICY_SIGNATURE} as signature from pg_policy group by polrelid) s) as signatures
       from pg_dist_node where groupid = 0 and shouldhaveshards`,
  );
  for (const { nodeport, signatures } of coordinator.rows) onNode.set(nodeport, signatures);
  for (const worker of workers.rows) {
    if (!worker.success) throw new Error(`reading the policies on the worker at port ${worker.nodeport} failed: ${worker.result}`);
    onNode.set(worker.nodeport, JSON.parse(worker.result) as Record<string, string>);
  }
  const wanted = new Map(expected.rows.map((r) => [r.table, r.signature]));
  const copies = [...onNode.keys()].flatMap((nodeport) => expected.rows.map(({ table }) => ({ table, relation: table, nodeport })));
  const coordinatorPort = coordinator.rows[0]?.nodeport;
  return [...placements.rows, ...copies]
    .filter((m) => (onNode.get(m.nodeport)?.[m.relation] ?? '') !== wanted.get(m.table))
    .map((m) => (m.nodeport === coordinatorPort ? { ...m, onCoordinator: true } : m));
}
