-- API keys now name their tenant (src/http/auth/api-key.ts), and are looked up among that
-- tenant's keys only: on Citus one shard is read instead of every shard. Keys made before
-- keep the lookup by hash alone (rowguard.resolve_api_key(bytea)). Same guarantees as that
-- one: maps a key to its tenant, key id and scopes and nothing else; runs as the system role
-- (its owner), pins search_path, only the app role may call it. PL/pgSQL, which Citus can
-- plan (migration 0016).
create function rowguard.resolve_api_key(tenant uuid, key_hash bytea)
returns table (tenant_id uuid, key_id uuid, scopes text[])
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select k.tenant_id, k.id, k.scopes
    from public.api_keys k
    where k.tenant_id = resolve_api_key.tenant
      and k.key_hash = resolve_api_key.key_hash
      and k.revoked_at is null
      and (k.expires_at is null or k.expires_at > now());
end
$$;

revoke all on function rowguard.resolve_api_key(uuid, bytea) from public;
grant execute on function rowguard.resolve_api_key(uuid, bytea) to :"app_role";
comment on function rowguard.resolve_api_key(uuid, bytea) is
  'rowguard:reviewed: maps the hash of an API key, among the keys of the tenant it names, to its tenant, key id and scopes, nothing else';
grant create on schema rowguard to :"system_role";
alter function rowguard.resolve_api_key(uuid, bytea) owner to :"system_role";
revoke create on schema rowguard from :"system_role";
