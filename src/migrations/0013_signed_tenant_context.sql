-- The signed tenant context, an option (`rowguard signed-context on`). Any role may set any
-- custom setting, so a policy that trusts app.tenant_id alone can be switched to another
-- tenant by SQL the app role runs itself (an injected `select set_config('app.tenant_id', …)`,
-- even inside query_to_xml, which no statement filter sees). The kernel also sets
-- app.tenant_proof, an HMAC-SHA256 of the tenant id under a key that only the owner can read;
-- policies written with `(select rowguard.tenant_id())` accept the tenant only when the proof
-- matches. The app role sees its own tenant's proof and nothing else: it can neither read the
-- key nor compute another tenant's proof. This migration adds the key and the function; the
-- policies keep the plain predicate until the option is turned on, because the check costs
-- PostgreSQL CPU on every statement (README, "What a scoped request costs").

create table rowguard.context_key (
  singleton boolean primary key default true check (singleton),
  -- The key Node signs with, and its HMAC pads (key zero-filled to 64 bytes, xor 0x36 / 0x5c).
  key bytea not null check (length(key) = 32),
  inner_pad bytea not null check (length(inner_pad) = 64),
  outer_pad bytea not null check (length(outer_pad) = 64)
);
revoke all on rowguard.context_key from public, :"app_role", :"system_role";

do $$
declare
  -- 2 × 122 random bits from the server's strong random source.
  k bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
  padded bytea := k || decode(repeat('00', 32), 'hex');
  inner_pad bytea := padded;
  outer_pad bytea := padded;
begin
  for i in 0..63 loop
    inner_pad := set_byte(inner_pad, i, get_byte(padded, i) # 54);
    outer_pad := set_byte(outer_pad, i, get_byte(padded, i) # 92);
  end loop;
  insert into rowguard.context_key (key, inner_pad, outer_pad) values (k, inner_pad, outer_pad);
end
$$;

-- The tenant of the current transaction when its proof is valid, otherwise NULL (no rows
-- visible, every write rejected). STABLE, and called as `(select rowguard.tenant_id())`, so
-- each statement evaluates it once, as an InitPlan whose result the tenant index can use.
create function rowguard.tenant_id() returns uuid
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  tenant text := current_setting('app.tenant_id', true);
  proof text := current_setting('app.tenant_proof', true);
  pads record;
begin
  if tenant is null or tenant = '' or proof is null or proof = '' then
    return null;
  end if;
  select inner_pad, outer_pad into pads from rowguard.context_key;
  if encode(sha256(pads.outer_pad || sha256(pads.inner_pad || convert_to(tenant, 'UTF8'))), 'hex') = proof then
    return tenant::uuid;
  end if;
  return null;
end
$$;
revoke all on function rowguard.tenant_id() from public;
-- Every role whose queries meet a tenant policy evaluates it (the system role too, before its
-- own policy admits the row): it reveals only the validated tenant of the caller's transaction.
grant execute on function rowguard.tenant_id() to public;
comment on function rowguard.tenant_id() is
  'rowguard:reviewed: returns the caller''s tenant when app.tenant_proof is its HMAC under rowguard.context_key, else NULL; reads nothing else';

