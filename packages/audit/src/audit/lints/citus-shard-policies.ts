import type { Lint } from '../lint.js';

// Citus (13.2 and before) copies CREATE POLICY … AS RESTRICTIVE to the shards without AS
// RESTRICTIVE: the coordinator shows the policy the author wrote, the nodes that hold the rows
// enforce a permissive one, which widens instead of narrowing.
export const citusShardPolicies: Lint = {
  id: 'citus-shard-policies',
  severity: 'error',
  title: 'On Citus, shards that do not enforce their table’s policies',
  run: (catalog) => {
    const tables = [...new Set(catalog.shardPolicyProblems.map((p) => p.table))];
    return tables.map((table) => {
      const problems = catalog.shardPolicyProblems.filter((p) => p.table === table);
      return {
        id: 'citus-shard-policies',
        severity: 'error',
        object: table,
        message: `${problems.length} of this table's shards or worker copies (${problems[0]!.relation} on port ${problems[0]!.nodeport}, …) do not have its policies: Citus copies a restrictive policy to the shards as permissive, so the nodes that hold the rows enforce less than the coordinator shows. Run rowguard migrate (repairShardPolicies of @rowguard/kernel) after creating policies and after moving, splitting or isolating shards.`,
      };
    });
  },
};
