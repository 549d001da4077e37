-- The principal check of migration 0014, as Citus needs it (same behaviour on plain PostgreSQL):
--
-- 1. Its statements name the tenant (a PL/pgSQL variable: a bind parameter to the planner), so
--    Citus sends each to the one shard of the request's tenant instead of to every shard, and
--    the key's last_used_at update is a single-shard write, not a two-phase commit.
-- 2. On Citus the permission and the member are set with SET LOCAL, which Citus passes on to
--    the workers, where the restrictive permission policies are checked: with set_config the
--    workers saw no permission, and rowguard.may() allowed everything there. Elsewhere they
--    stay set_config, which costs no statement of its own on every request. Citus is told by
--    its catalog table (a cached lookup), never by a setting the app role could change.

create or replace function rowguard.enter_as_user(user_id text, needed text)
returns table (member_id uuid, role text, permission text)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  tenant_status text;
  member record;
  granted text;
begin
  -- Both read under the tenant's own policies too: another tenant's rows do not exist here.
  select t.status into tenant_status from public.tenants t where t.id = tenant;
  select m.id, m.role, m.status into member from public.team_members m where m.tenant_id = tenant and m.user_id = enter_as_user.user_id;
  if tenant_status is null or member.id is null or member.status <> 'active' then
    raise exception 'not an active member of this tenant' using errcode = 'RG001';
  end if;
  if tenant_status <> 'active' then
    raise exception 'tenant suspended' using errcode = 'RG002';
  end if;
  granted := case member.role when 'viewer' then 'read' when 'member' then 'write' when 'admin' then 'manage' else 'owner' end;
  if rowguard.permission_level(granted) < rowguard.permission_level(needed) then
    raise exception 'needs the % permission', needed using errcode = 'RG003';
  end if;
  if to_regclass('pg_catalog.pg_dist_partition') is not null then
    execute format('set local rowguard.permission = %L', granted);
    execute format('set local rowguard.member_id = %L', member.id);
  else
    perform set_config('rowguard.permission', granted, true), set_config('rowguard.member_id', member.id::text, true);
  end if;
  return query select member.id, member.role, granted;
end
$$;

create or replace function rowguard.enter_as_key(key_id uuid, scopes text[], needed text)
returns table (permission text)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
  tenant_status text;
  granted text := case when 'write' = any(scopes) then 'write' else 'read' end;
begin
  select t.status into tenant_status from public.tenants t where t.id = tenant;
  if tenant_status is null then
    raise exception 'the key does not belong to an existing tenant' using errcode = 'RG001';
  end if;
  if tenant_status <> 'active' then
    raise exception 'tenant suspended' using errcode = 'RG002';
  end if;
  if rowguard.permission_level(granted) < rowguard.permission_level(needed) then
    raise exception 'needs the % permission', needed using errcode = 'RG003';
  end if;
  -- last_used_at, at most once a minute per key; before the permission is recorded, so a
  -- read-only key can still be marked used.
  update public.api_keys k set last_used_at = now()
  where k.tenant_id = tenant and k.id = enter_as_key.key_id and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute');
  if to_regclass('pg_catalog.pg_dist_partition') is not null then
    execute format('set local rowguard.permission = %L', granted);
  else
    perform set_config('rowguard.permission', granted, true);
  end if;
  return query select granted;
end
$$;
