-- The user's principal check (migrations 0014 and 0017) at the cost of a join, on plain
-- PostgreSQL. As a PL/pgSQL function it cost about 30 µs of PostgreSQL CPU per request, inlined
-- 11 µs on PostgreSQL 18 and 21 µs on 15 (one connection, 10,000–20,000 requests): the
-- function call, its two queries through SPI, RETURN QUERY and the search_path it pins. A SQL
-- function that is STABLE, not STRICT and pins no setting is inlined by the planner into the
-- statement that calls it, so the check runs as a join of the caller's own statement.
--
-- rowguard.check_user has the rules of rowguard.enter_as_user: the tenant must exist and be
-- active, the user an active member; the member's role gives the permission, which must reach
-- `needed`; refusals raise RG001 (not a member, or unknown tenant), RG002 (tenant suspended),
-- RG003 (below the permission needed). It records the permission and the member with
-- set_config, which stays on the server it runs on: on Citus the workers would see no
-- permission, and the restrictive permission policies would allow every write there. Citus
-- 13.2 cannot plan its join (0A000); should a later version plan it, it refuses to run there
-- (RG004). On Citus the service calls rowguard.enter_as_user instead, which
-- records them with SET LOCAL and whose statements name the tenant so that Citus routes them
-- to one shard. test/principal-check.test.ts holds the two to the same answers over every
-- tenant status, membership and needed permission.
--
-- The body names every table and function with its schema: an inlined function cannot pin a
-- search_path. Operators resolve in pg_catalog first, and the app role cannot create objects
-- in any schema (the audit's app-role-excess-privileges).

create function rowguard.refuse(code text, message text) returns text
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception '%', message using errcode = code;
end
$$;

create function rowguard.check_user(user_id text, needed text)
returns table (member_id uuid, role text, permission text)
language sql
stable
as $$
  select m.id, m.role,
    case
      when pg_catalog.to_regclass('pg_catalog.pg_dist_partition') is not null then rowguard.refuse('RG004', 'rowguard.check_user does not reach the Citus workers: use rowguard.enter_as_user')
      when t.status is null or m.id is null or m.status <> 'active' then rowguard.refuse('RG001', 'not an active member of this tenant')
      when t.status <> 'active' then rowguard.refuse('RG002', 'tenant suspended')
      when rowguard.permission_level(g.permission) < rowguard.permission_level(needed) then rowguard.refuse('RG003', 'needs the ' || needed || ' permission')
      when pg_catalog.set_config('rowguard.permission', g.permission, true) is not null
        and pg_catalog.set_config('rowguard.member_id', m.id::text, true) is not null then g.permission
    end
  -- A scalar subquery: the tenant is read once per statement (an InitPlan), not once per row
  -- of a sequential scan. Read per row, the check cost 70 µs on PostgreSQL 15 with 100 tenants.
  from (select (select nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid) as id) tenant
  left join public.tenants t on t.id = tenant.id
  left join public.team_members m on m.tenant_id = tenant.id and m.user_id = check_user.user_id
  cross join lateral (
    select case m.role when 'viewer' then 'read' when 'member' then 'write' when 'admin' then 'manage' else 'owner' end as permission
  ) g
$$;

revoke all on function rowguard.refuse(text, text), rowguard.check_user(text, text) from public;
grant execute on function rowguard.refuse(text, text), rowguard.check_user(text, text) to :"app_role";
