-- Every permission policy (migration 0014) also requires the row's tenant to be the current
-- one. On plain PostgreSQL nothing changes: they are restrictive, ANDed with the restrictive
-- tenant policy. Citus (13.2) copies a restrictive policy to a shard it creates or moves as a
-- permissive one, until repairShardPolicies puts it back; there a permissive
-- `rowguard.may('manage')` let a manager read the audit log, keys and webhooks of every
-- tenant on the shard, and a writer change or delete their rows (measured after a rebalance:
-- 124 audit rows of other tenants). With the tenant in the expression, such a copy lets
-- through nothing of another tenant.
do $$
declare
  p record;
  tenant_column text;
  is_current text;
begin
  for p in
    select pol.polrelid::regclass as relation, pol.polname as name,
           pg_get_expr(pol.polqual, pol.polrelid) as using_expression, pg_get_expr(pol.polwithcheck, pol.polrelid) as check_expression
    from pg_policy pol join pg_class c on c.oid = pol.polrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and pol.polname like 'permission\_%'
  loop
    tenant_column := case when p.relation = 'public.tenants'::regclass then 'id' else 'tenant_id' end;
    is_current := format('%I = nullif(current_setting(%L, true), %L)::uuid', tenant_column, 'app.tenant_id', '');
    execute format('alter policy %I on %s%s%s', p.name, p.relation,
      case when p.using_expression is null then '' else format(' using (%s and (%s))', is_current, p.using_expression) end,
      case when p.check_expression is null then '' else format(' with check (%s and (%s))', is_current, p.check_expression) end);
  end loop;
end
$$;
