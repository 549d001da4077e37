-- What Citus needs of the schema, kept valid on plain PostgreSQL: the same files make both.
--
-- 1. A member's authored rows outlive the member without an author. `on delete set null` on a
--    key that holds the distribution column (tenant_id) is refused by Citus, so the service
--    clears the references itself, in the transaction that deletes the member
--    (src/http/routes/members.ts), and these keys refuse a delete that did not.
alter table projects drop constraint projects_tenant_id_created_by_fkey,
  add constraint projects_tenant_id_created_by_fkey foreign key (tenant_id, created_by) references team_members (tenant_id, id) not valid;
alter table projects validate constraint projects_tenant_id_created_by_fkey;
alter table tasks drop constraint tasks_tenant_id_assignee_id_fkey,
  add constraint tasks_tenant_id_assignee_id_fkey foreign key (tenant_id, assignee_id) references team_members (tenant_id, id) not valid;
alter table tasks validate constraint tasks_tenant_id_assignee_id_fkey;
alter table documents drop constraint documents_tenant_id_created_by_fkey,
  add constraint documents_tenant_id_created_by_fkey foreign key (tenant_id, created_by) references team_members (tenant_id, id) not valid;
alter table documents validate constraint documents_tenant_id_created_by_fkey;
alter table comments drop constraint comments_tenant_id_author_id_fkey,
  add constraint comments_tenant_id_author_id_fkey foreign key (tenant_id, author_id) references team_members (tenant_id, id) not valid;
alter table comments validate constraint comments_tenant_id_author_id_fkey;
alter table api_keys drop constraint api_keys_tenant_id_created_by_fkey,
  add constraint api_keys_tenant_id_created_by_fkey foreign key (tenant_id, created_by) references team_members (tenant_id, id) not valid;
alter table api_keys validate constraint api_keys_tenant_id_created_by_fkey;

-- 2. Citus cannot plan a SQL-language function whose statement takes its parameters into a
--    distributed table; PL/pgSQL passes them as values. Same owner, grants and comment.
create or replace function rowguard.resolve_api_key(key_hash bytea)
returns table (tenant_id uuid, key_id uuid, scopes text[])
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select k.tenant_id, k.id, k.scopes
    from public.api_keys k
    where k.key_hash = resolve_api_key.key_hash
      and k.revoked_at is null
      and (k.expires_at is null or k.expires_at > now());
end
$$;
