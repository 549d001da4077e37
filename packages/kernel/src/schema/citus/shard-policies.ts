import type pg from 'pg';
import { quoteLiteral } from '../../db/sql.js';

/**
 * Citus (13.2 and before) copies a table's policies to its shards and to the workers' copies
 * of the table without `AS RESTRICTIVE`: on the nodes that hold the rows, a restrictive policy
 * becomes permissive and widens what it was meant to narrow (Rowguard's permission policies
 * would let any writer insert rows of another tenant). This puts every restrictive policy of
 * the current role's distributed tables back as restrictive wherever it is not, and returns how
 * many tables needed it. Run by `migrate` on Citus, and needed again after shards are moved,
 * split or isolated, which copy the policies the same way; `shardPolicyProblems` tells. Its
 * DDL waits for the locks of live requests on the shards; when a node's pass fails (a deadlock
 * with one of them), the whole pass runs again, up to five times, before it throws.
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
  const needed = new Set<string>();
  for (let attempt = 1; ; attempt++) {
    const mismatches = await policyMismatches(client);
    for (const m of mismatches) needed.add(m.table);
    if (mismatches.length === 0) return needed.size;
    const failure = await repairOnce(client, mismatches);
    if (failure === null) return needed.size;
    // The repair's DDL locks shards that live traffic is using: a deadlock with a request aborts
    // a node's block (one transaction, so nothing of it stays), which then simply runs again.
    if (attempt === REPAIR_ATTEMPTS) throw new Error(failure);
    await new Promise((resolve) => setTimeout(resolve, attempt * 250));
  }
}

const REPAIR_ATTEMPTS = 5;

/** One pass over the mismatches: null when every node took it, otherwise what the first refusal said. */
async function repairOnce(client: pg.ClientBase, mismatches: readonly Mismatch[]): Promise<string | null> {
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
  // shards and its copy of the table), in name order. The definitions are arguments of
  // format(), never part of a format string.
  const steps = policies.map((policy) => {
    const relations = mismatches.filter((m) => m.table === policy.table).map((m) => m.relation);
    return `foreach relation in array array[${[...new Set(relations)].map(quoteLiteral).join(', ')}]::text[] loop
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
  const failed = results.rows.find((r) => !r.success);
  if (failed) return `the worker at port ${failed.nodeport} refused: ${failed.result}`;
  if (mismatches.some((m) => m.onCoordinator)) {
    try {
      await client.query(block);
    } catch (error) {
      return `the coordinator refused: ${(error as Error).message}`;
    }
  }
  return null;
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

// Code point order: a node's block takes its locks in one known order.
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

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
    .sort((a, b) => byText(a.table, b.table) || byText(a.relation, b.relation) || a.nodeport - b.nodeport)
    .map((m) => (m.nodeport === coordinatorPort ? { ...m, onCoordinator: true } : m));
}
