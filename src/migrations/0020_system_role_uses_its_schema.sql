-- The system role owns functions in schema rowguard (resolve_api_key) but had no USAGE on the
-- schema. On Citus, adding a node replays each function's grants as its owner on the new
-- node, which needs USAGE: citus_add_node failed with "permission denied for schema rowguard".
grant usage on schema rowguard to :"system_role";
