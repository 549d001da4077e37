-- Row versions for ETag / If-Match, bumped by the same trigger that keeps updated_at.

create or replace function rowguard.touch_updated_at() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  new.updated_at := now();
  new.version := old.version + 1;
  return new;
end
$$;

alter table tenants add column version integer not null default 1;
alter table team_members add column version integer not null default 1;
alter table projects add column version integer not null default 1;
alter table tasks add column version integer not null default 1;
alter table documents add column version integer not null default 1;
alter table comments add column version integer not null default 1;
alter table invoices add column version integer not null default 1;
alter table api_keys add column version integer not null default 1;
alter table webhooks add column version integer not null default 1;

-- API keys are resolved before any tenant context exists. This one function maps a key's
-- hash to its tenant, key id and scopes and nothing else. It runs as the system role (its
-- owner), pins search_path, and only the app role may call it.
grant usage on schema rowguard to :"app_role";

create function rowguard.resolve_api_key(key_hash bytea)
returns table (tenant_id uuid, key_id uuid, scopes text[])
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select k.tenant_id, k.id, k.scopes
  from public.api_keys k
  where k.key_hash = resolve_api_key.key_hash
    and k.revoked_at is null
    and (k.expires_at is null or k.expires_at > now())
$$;

revoke all on function rowguard.resolve_api_key(bytea) from public;
grant execute on function rowguard.resolve_api_key(bytea) to :"app_role";
-- The new owner needs CREATE on the schema at the moment it takes ownership, not after.
grant create on schema rowguard to :"system_role";
alter function rowguard.resolve_api_key(bytea) owner to :"system_role";
revoke create on schema rowguard from :"system_role";
