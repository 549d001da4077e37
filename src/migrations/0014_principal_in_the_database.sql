-- The request's principal, checked in the database. Each request's transaction starts with
-- rowguard.enter_as_user or rowguard.enter_as_key, sent in the same round trip as the
-- handler's first statement: when the tenant is not active, the user not an active member, or
-- the permission below what the route needs, it raises, the transaction aborts, and the
-- statements queued behind it never run. Otherwise it records the permission (and the member)
-- for the rest of the transaction, and the restrictive policies below hold every write, and
-- the reads of secrets, to the permission table:
--   viewer: read; member: write; admin: manage (members, API keys, webhooks, audit log); owner.
-- These settings are set only here (the kernel refuses SET and set_config in a scoped
-- transaction's statements). A transaction that entered no principal (the kernel used
-- directly by trusted code: a CLI command, a migration, a test) is not held to a permission;
-- a request always enters one.

-- Raised codes, mapped to HTTP 403 by the service: RG001 not a member (or unknown tenant),
-- RG002 tenant suspended, RG003 permission below the one needed.

create function rowguard.permission_level(permission text) returns integer
language sql
immutable
as $$
  select pg_catalog.array_position(array['read', 'write', 'manage', 'owner'], permission)
$$;

-- The entered principal may do what `needed` asks; true when no principal entered.
create function rowguard.may(needed text) returns boolean
language sql
stable
as $$
  select case coalesce(pg_catalog.current_setting('rowguard.permission', true), '')
    when '' then true
    else rowguard.permission_level(pg_catalog.current_setting('rowguard.permission', true)) >= rowguard.permission_level(needed)
  end
$$;

create function rowguard.enter_as_user(user_id text, needed text)
returns table (member_id uuid, role text, permission text)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  tenant_status text;
  member record;
  granted text;
begin
  -- Both read under the tenant's own policies: another tenant's rows do not exist here.
  select t.status into tenant_status from public.tenants t;
  select m.id, m.role, m.status into member from public.team_members m where m.user_id = enter_as_user.user_id;
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
  perform set_config('rowguard.permission', granted, true), set_config('rowguard.member_id', member.id::text, true);
  return query select member.id, member.role, granted;
end
$$;

create function rowguard.enter_as_key(key_id uuid, scopes text[], needed text)
returns table (permission text)
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  tenant_status text;
  granted text := case when 'write' = any(scopes) then 'write' else 'read' end;
begin
  select t.status into tenant_status from public.tenants t;
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
  where k.id = enter_as_key.key_id and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute');
  perform set_config('rowguard.permission', granted, true);
  return query select granted;
end
$$;

revoke all on function rowguard.enter_as_user(text, text), rowguard.enter_as_key(uuid, text[], text) from public;
grant execute on function rowguard.enter_as_user(text, text), rowguard.enter_as_key(uuid, text[], text) to :"app_role";
grant execute on function rowguard.may(text), rowguard.permission_level(text) to :"app_role";

-- Who created a row: the entered member, filled by the database rather than by each handler.
alter table projects alter column created_by set default nullif(current_setting('rowguard.member_id', true), '')::uuid;
alter table documents alter column created_by set default nullif(current_setting('rowguard.member_id', true), '')::uuid;
alter table comments alter column author_id set default nullif(current_setting('rowguard.member_id', true), '')::uuid;
alter table api_keys alter column created_by set default nullif(current_setting('rowguard.member_id', true), '')::uuid;

-- The permission table as restrictive policies of the app role, AND-ed with tenant isolation.
create policy permission_insert on projects as restrictive for insert to :"app_role" with check (rowguard.may('write'));
create policy permission_update on projects as restrictive for update to :"app_role" using (rowguard.may('write'));
create policy permission_delete on projects as restrictive for delete to :"app_role" using (rowguard.may('write'));
create policy permission_insert on tasks as restrictive for insert to :"app_role" with check (rowguard.may('write'));
create policy permission_update on tasks as restrictive for update to :"app_role" using (rowguard.may('write'));
create policy permission_delete on tasks as restrictive for delete to :"app_role" using (rowguard.may('write'));
create policy permission_insert on documents as restrictive for insert to :"app_role" with check (rowguard.may('write'));
create policy permission_update on documents as restrictive for update to :"app_role" using (rowguard.may('write'));
create policy permission_delete on documents as restrictive for delete to :"app_role" using (rowguard.may('write'));
create policy permission_insert on comments as restrictive for insert to :"app_role" with check (rowguard.may('write'));
create policy permission_update on comments as restrictive for update to :"app_role" using (rowguard.may('write'));
create policy permission_delete on comments as restrictive for delete to :"app_role" using (rowguard.may('write'));
create policy permission_insert on invoices as restrictive for insert to :"app_role" with check (rowguard.may('write'));
create policy permission_update on invoices as restrictive for update to :"app_role" using (rowguard.may('write'));
create policy permission_delete on invoices as restrictive for delete to :"app_role" using (rowguard.may('write'));

create policy permission_insert on team_members as restrictive for insert to :"app_role" with check (rowguard.may('manage'));
create policy permission_update on team_members as restrictive for update to :"app_role" using (rowguard.may('manage'));
create policy permission_delete on team_members as restrictive for delete to :"app_role" using (rowguard.may('manage'));
create policy permission_update on tenants as restrictive for update to :"app_role" using (rowguard.may('owner'));

-- Secrets and the record of who did what: read and written with the manage permission only.
create policy permission_select on api_keys as restrictive for select to :"app_role" using (rowguard.may('manage'));
create policy permission_insert on api_keys as restrictive for insert to :"app_role" with check (rowguard.may('manage'));
create policy permission_update on api_keys as restrictive for update to :"app_role" using (rowguard.may('manage'));
create policy permission_delete on api_keys as restrictive for delete to :"app_role" using (rowguard.may('manage'));
create policy permission_select on webhooks as restrictive for select to :"app_role" using (rowguard.may('manage'));
create policy permission_insert on webhooks as restrictive for insert to :"app_role" with check (rowguard.may('manage'));
create policy permission_update on webhooks as restrictive for update to :"app_role" using (rowguard.may('manage'));
create policy permission_delete on webhooks as restrictive for delete to :"app_role" using (rowguard.may('manage'));
create policy permission_select on webhook_deliveries as restrictive for select to :"app_role" using (rowguard.may('manage'));
create policy permission_update on webhook_deliveries as restrictive for update to :"app_role" using (rowguard.may('manage'));
create policy permission_select on webhook_attempts as restrictive for select to :"app_role" using (rowguard.may('manage'));
create policy permission_select on audit_log as restrictive for select to :"app_role" using (rowguard.may('manage'));
