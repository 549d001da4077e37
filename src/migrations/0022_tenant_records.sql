-- Tenant-defined records: every tenant's records of every type in one shared table, and the
-- rules a tenant declares on fields inside their JSON held by the database itself.
--
-- A record type (record_types) has a name, the JSON Schema the API validates data with, and
-- declared fields (record_fields) the database knows: a kind, required, unique (optionally
-- case-insensitive), and references to records of another type of the same tenant.
--
-- Each declared field of each record has one row in record_values, written by the records
-- trigger in the same transaction as the record, with the field's value in a typed column.
-- That side table is what enforces the rules and serves the lookups:
--   - uniqueness: a unique index on (tenant, type, field, normalized value), so it is scoped
--     to the tenant, and a concurrent duplicate waits for the first and then fails;
--   - references: a foreign key (tenant, target type, target id) to records (tenant, type,
--     id), so a reference can point at no other tenant's record and no record of another type;
--   - lookups and sorts on a declared field: btree indexes leading with (tenant, type, field).
-- The alternative, one expression index per tenant, type and field on the records table, makes
-- every insert evaluate every tenant's index predicate and every index DDL a table-wide lock
-- (README, "Tenant-defined records", for the measurement).
--
-- The app role reads record_values but cannot write it: only the trigger functions, which run
-- as the owner (security definer) and so stay under the tenant policies (FORCE), write it. A
-- write that bypasses the API (a script, another service on the app role) goes through the
-- same triggers and constraints.
--
-- Raised codes, mapped to problem+json by the service (the field's name is in the message,
-- `record field "<name>" …`, and in the error's column field):
--   RG010 a required field is missing; RG011 a value does not have the field's kind;
--   RG012 the record is referenced by a record whose field restricts its deletion;
--   RG013 a reference names no record of the target type; 23505 a unique value is taken.

create table record_types (
  tenant_id uuid not null references tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  -- An identifier: it names the API path, the view and the events (record.<name>.created).
  name text not null check (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  json_schema jsonb not null check (jsonb_typeof(json_schema) = 'object'),
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, name)
);
create trigger touch_updated_at before update on record_types
  for each row execute function rowguard.touch_updated_at();

create table record_fields (
  tenant_id uuid not null,
  record_type text not null,
  name text not null check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  kind text not null check (kind in ('text', 'number', 'integer', 'boolean', 'date', 'timestamp', 'reference')),
  required boolean not null default false,
  is_unique boolean not null default false,
  case_insensitive boolean not null default false,
  target_type text,
  on_delete text check (on_delete in ('restrict', 'cascade')),
  deprecated boolean not null default false,
  -- Column order in the type's view: fields are only ever appended.
  position integer not null,
  added_in_version integer not null,
  primary key (tenant_id, record_type, name),
  foreign key (tenant_id, record_type) references record_types (tenant_id, name) on delete cascade,
  -- Checked at commit, like the two below, so that deleting a tenant, which deletes its types,
  -- fields and records in one statement, finds them all gone whatever order they went in.
  foreign key (tenant_id, target_type) references record_types (tenant_id, name) deferrable initially deferred,
  check ((kind = 'reference') = (target_type is not null)),
  check ((kind = 'reference') = (on_delete is not null)),
  check (not case_insensitive or (is_unique and kind = 'text')),
  check (not (required and deprecated))
);

-- Every definition a type had, for the audit and for clients pinned to a version.
create table record_type_versions (
  tenant_id uuid not null,
  id uuid not null default gen_random_uuid(),
  record_type text not null,
  version integer not null,
  json_schema jsonb not null,
  fields jsonb not null,
  changed_by text not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, record_type, version),
  foreign key (tenant_id, record_type) references record_types (tenant_id, name) on delete cascade
);

create table records (
  tenant_id uuid not null references tenants (id) on delete cascade,
  type text not null,
  id uuid not null default gen_random_uuid(),
  data jsonb not null check (jsonb_typeof(data) = 'object'),
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  -- The target of typed references: (tenant, type, id).
  unique (tenant_id, type, id),
  -- A type with records cannot be dropped.
  foreign key (tenant_id, type) references record_types (tenant_id, name) deferrable initially deferred
);
create trigger touch_updated_at before update on records
  for each row execute function rowguard.touch_updated_at();

create table record_values (
  tenant_id uuid not null,
  record_id uuid not null,
  type text not null,
  field text not null,
  kind text not null,
  -- The value in the column of its kind; null when the record does not have the field.
  text_value text collate "C",
  number_value numeric,
  bool_value boolean,
  date_value date,
  time_value timestamptz,
  target_type text,
  target_id uuid,
  -- The value as uniqueness compares it (lower-cased when case-insensitive); null when the
  -- field is not unique or the record does not have it.
  unique_key text,
  primary key (tenant_id, record_id, field),
  foreign key (tenant_id, type, record_id) references records (tenant_id, type, id) on delete cascade,
  foreign key (tenant_id, type, field) references record_fields (tenant_id, record_type, name) on delete cascade,
  -- A reference never dangles. The delete trigger removes the records that cascade and
  -- refuses, with the field's name, a delete that a restricting reference forbids; this key is
  -- the guarantee behind both, against races too. It is checked at commit, so that records
  -- that refer to each other can be deleted together.
  foreign key (tenant_id, target_type, target_id) references records (tenant_id, type, id) deferrable initially deferred
);
create unique index record_values_unique_key on record_values (tenant_id, type, field, unique_key) where unique_key is not null;
create index record_values_text on record_values (tenant_id, type, field, text_value) where kind = 'text';
create index record_values_number on record_values (tenant_id, type, field, number_value) where kind in ('number', 'integer');
create index record_values_bool on record_values (tenant_id, type, field, bool_value) where kind = 'boolean';
create index record_values_date on record_values (tenant_id, type, field, date_value) where kind = 'date';
create index record_values_time on record_values (tenant_id, type, field, time_value) where kind = 'timestamp';
create index record_values_target on record_values (tenant_id, target_id) where target_id is not null;

-- The declared fields of one record, checked and written to record_values: all of them, or
-- `only_field` (a change of that field's rules). `replace` first removes what the record had
-- (an update of its data, or a change of its type's fields). It takes the record's columns,
-- not its row: on Citus a trigger's row is of the shard's type.
create function rowguard.index_record(record_tenant uuid, record_type text, record_id uuid, data jsonb, replace boolean, only_field text default null) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  f record;
  v jsonb;
  s text;
  t_value text;
  n_value numeric;
  b_value boolean;
  d_value date;
  ts_value timestamptz;
  target uuid;
  key text;
begin
  if replace then
    delete from public.record_values v
     where v.tenant_id = record_tenant and v.record_id = index_record.record_id and (only_field is null or v.field = only_field);
  end if;
  for f in
    select * from public.record_fields rf
     where rf.tenant_id = record_tenant and rf.record_type = index_record.record_type and (only_field is null or rf.name = only_field)
     order by rf.position
  loop
    v := data -> f.name;
    if v is not null and jsonb_typeof(v) = 'null' then
      v := null;
    end if;
    t_value := null; n_value := null; b_value := null; d_value := null; ts_value := null; target := null;
    if v is null then
      if f.required then
        raise exception using errcode = 'RG010', column = f.name, message = format('record field "%s" is required', f.name);
      end if;
    elsif f.kind in ('text', 'date', 'timestamp', 'reference') and jsonb_typeof(v) <> 'string' then
      raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be a string (%s)', f.name, f.kind);
    elsif f.kind in ('number', 'integer') and jsonb_typeof(v) <> 'number' then
      raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be a number', f.name);
    elsif f.kind = 'boolean' and jsonb_typeof(v) <> 'boolean' then
      raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be true or false', f.name);
    else
      s := v #>> '{}';
      case f.kind
        when 'text' then
          -- Declared text is for keys and lookups: it must fit in an index entry.
          if length(s) > 500 then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" is longer than 500 characters', f.name);
          end if;
          t_value := s;
        when 'number' then
          n_value := s::numeric;
        when 'integer' then
          n_value := s::numeric;
          if n_value <> trunc(n_value) then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be an integer', f.name);
          end if;
        when 'boolean' then
          b_value := s::boolean;
        when 'date' then
          if s !~ '^\d{4}-\d{2}-\d{2}$' then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be a date (YYYY-MM-DD)', f.name);
          end if;
          begin
            d_value := s::date;
          exception when others then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be a date (YYYY-MM-DD)', f.name);
          end;
        when 'timestamp' then
          if s !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$' then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be a timestamp with a time zone (RFC 3339)', f.name);
          end if;
          begin
            ts_value := s::timestamptz;
          exception when others then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be a timestamp with a time zone (RFC 3339)', f.name);
          end;
        when 'reference' then
          if s !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
            raise exception using errcode = 'RG011', column = f.name, message = format('record field "%s" must be the id of a record of type %s', f.name, f.target_type);
          end if;
          target := s::uuid;
          -- The owner is held to the tenant policies too (FORCE): another tenant's record is
          -- not found, exactly like a record that does not exist. The lock makes a concurrent
          -- delete of the target wait for this write, and then see the reference.
          perform 1 from public.records t where t.tenant_id = record_tenant and t.type = f.target_type and t.id = target for key share;
          if not found then
            raise exception using errcode = 'RG013', column = f.name, message = format('record field "%s" names no %s record', f.name, f.target_type);
          end if;
      end case;
    end if;
    key := null;
    if f.is_unique and v is not null then
      key := case
        when f.case_insensitive then lower(t_value)
        when f.kind in ('number', 'integer') then trim_scale(n_value)::text
        when f.kind = 'timestamp' then to_char(ts_value at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')
        else coalesce(t_value, b_value::text, d_value::text, target::text)
      end;
    end if;
    insert into public.record_values (tenant_id, record_id, type, field, kind, text_value, number_value, bool_value, date_value, time_value, target_type, target_id, unique_key)
    values (record_tenant, index_record.record_id, index_record.record_type, f.name, f.kind, t_value, n_value, b_value, d_value, ts_value,
            case when target is null then null else f.target_type end, target, key)
    on conflict do nothing;
    -- Only the unique key can conflict (the record's own rows were removed above). A
    -- concurrent insert of the same value waited for the first, and finds it taken.
    if not found then
      raise exception using errcode = '23505', column = f.name, message = format('record field "%s" must be unique: another %s record has this value', f.name, index_record.record_type);
    end if;
  end loop;
end
$$;
comment on function rowguard.index_record(uuid, text, uuid, jsonb, boolean, text) is
  'rowguard:reviewed writes only the declared values of the record it is given, under the tenant policies (FORCE); the app role cannot write record_values itself';

create function rowguard.index_record_trigger() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Serializes with a change of the type's fields (which locks the type FOR UPDATE): a write
  -- racing a new unique constraint is either indexed under it or seen by its check.
  perform 1 from public.record_types where tenant_id = new.tenant_id and name = new.type for key share;
  -- The foreign key is checked at commit; this says it at once, and on Citus as 23503 rather
  -- than as a failed commit.
  if not found then
    raise exception using errcode = '23503', message = format('record type "%s" does not exist', new.type);
  end if;
  perform rowguard.index_record(new.tenant_id, new.type, new.id, new.data, tg_op = 'UPDATE');
  return null;
end
$$;
comment on function rowguard.index_record_trigger() is
  'rowguard:reviewed indexes the declared fields of the row being written, under the tenant policies (FORCE)';
create trigger index_record after insert or update of data on records
  for each row execute function rowguard.index_record_trigger();

-- A change of a type's fields applies to its existing records at once: the field of every
-- record of the type is checked and indexed again, in the same transaction. A new required
-- field on a type with records, a new unique field with duplicates, a new reference to
-- nothing: the change fails and nothing of it stays. A change that only relaxes a field
-- (deprecated, no longer required) has nothing to check.
create function rowguard.reindex_record_type() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r record;
begin
  if tg_op = 'UPDATE' and new.is_unique = old.is_unique and new.case_insensitive = old.case_insensitive and (old.required or not new.required) then
    return null;
  end if;
  perform 1 from public.record_types where tenant_id = new.tenant_id and name = new.record_type for update;
  if new.target_type is not null then
    perform 1 from public.record_types where tenant_id = new.tenant_id and name = new.target_type for key share;
    if not found then
      raise exception using errcode = '23503', column = new.name, message = format('record field "%s" refers to record type "%s", which does not exist', new.name, new.target_type);
    end if;
  end if;
  for r in select id, data from public.records where tenant_id = new.tenant_id and type = new.record_type loop
    perform rowguard.index_record(new.tenant_id, new.record_type, r.id, r.data, true, new.name);
  end loop;
  return null;
end
$$;
comment on function rowguard.reindex_record_type() is
  'rowguard:reviewed indexes again the records of the type whose field changed, under the tenant policies (FORCE)';
create trigger reindex_records after insert or update on record_fields
  for each row execute function rowguard.reindex_record_type();

-- Deleting a record: a restricting reference to it refuses the delete, naming the field; the
-- records whose cascading references point at it (and at them, and so on) go with it. The
-- records that cascade are found first and deleted in one statement, whose own delete
-- triggers (one level deeper) do nothing more, so a cycle of references ends. The app role
-- cannot reach that depth but through this trigger.
create function rowguard.delete_record_trigger() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  doomed uuid[];
  blocker record;
begin
  if pg_trigger_depth() > 1 then
    return old;
  end if;
  with recursive closure(id) as (
    select old.id
    union
    select v.record_id
      from closure c
      join public.record_values v on v.tenant_id = old.tenant_id and v.target_id = c.id
      join public.record_fields f on f.tenant_id = v.tenant_id and f.record_type = v.type and f.name = v.field
     where f.on_delete = 'cascade'
  )
  select array_agg(id) into doomed from closure;
  select v.type, v.field into blocker
    from public.record_values v
    join public.record_fields f on f.tenant_id = v.tenant_id and f.record_type = v.type and f.name = v.field
   where v.tenant_id = old.tenant_id and v.target_id = any (doomed) and f.on_delete = 'restrict'
     and v.record_id <> all (doomed)
   limit 1;
  if found then
    raise exception using errcode = 'RG012', column = blocker.field,
      message = format('record field "%s" of a record of type %s refers to this record', blocker.field, blocker.type);
  end if;
  if cardinality(doomed) > 1 then
    delete from public.records where tenant_id = old.tenant_id and id = any (doomed) and id <> old.id;
  end if;
  return old;
end
$$;
comment on function rowguard.delete_record_trigger() is
  'rowguard:reviewed deletes only records of the deleting tenant that cascade from the deleted one, under the tenant policies (FORCE)';
create trigger delete_record before delete on records
  for each row execute function rowguard.delete_record_trigger();

-- tenant isolation for record_types (generated by tenantTableSql)
alter table "record_types" enable row level security;
alter table "record_types" force row level security;
create policy tenant_isolation on "record_types"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation_required on "record_types" as restrictive to :"app_role"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy system_access on "record_types" to :"system_role"
  using (current_user = :'system_role') with check (current_user = :'system_role');
revoke all on "record_types" from public, :"app_role";
grant select, insert, update, delete on "record_types" to :"app_role";
grant select, insert, update, delete on "record_types" to :"system_role";

-- tenant isolation for record_fields (generated by tenantTableSql)
alter table "record_fields" enable row level security;
alter table "record_fields" force row level security;
create policy tenant_isolation on "record_fields"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation_required on "record_fields" as restrictive to :"app_role"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy system_access on "record_fields" to :"system_role"
  using (current_user = :'system_role') with check (current_user = :'system_role');
revoke all on "record_fields" from public, :"app_role";
grant select, insert, update on "record_fields" to :"app_role";
grant select, insert, update, delete on "record_fields" to :"system_role";

-- tenant isolation for record_type_versions (generated by tenantTableSql)
alter table "record_type_versions" enable row level security;
alter table "record_type_versions" force row level security;
create policy tenant_isolation on "record_type_versions"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation_required on "record_type_versions" as restrictive to :"app_role"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy system_access on "record_type_versions" to :"system_role"
  using (current_user = :'system_role') with check (current_user = :'system_role');
revoke all on "record_type_versions" from public, :"app_role";
grant select, insert on "record_type_versions" to :"app_role";
grant select, insert, update, delete on "record_type_versions" to :"system_role";

-- tenant isolation for records (generated by tenantTableSql)
alter table "records" enable row level security;
alter table "records" force row level security;
create policy tenant_isolation on "records"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation_required on "records" as restrictive to :"app_role"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy system_access on "records" to :"system_role"
  using (current_user = :'system_role') with check (current_user = :'system_role');
create index if not exists "records_tenant_id_type_created_at_id_idx" on "records" ("tenant_id", type, created_at desc, id desc);
revoke all on "records" from public, :"app_role";
grant select, insert, update, delete on "records" to :"app_role";
grant select, insert, update, delete on "records" to :"system_role";

-- tenant isolation for record_values (generated by tenantTableSql)
alter table "record_values" enable row level security;
alter table "record_values" force row level security;
create policy tenant_isolation on "record_values"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation_required on "record_values" as restrictive to :"app_role"
  using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid)
  with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy system_access on "record_values" to :"system_role"
  using (current_user = :'system_role') with check (current_user = :'system_role');
revoke all on "record_values" from public, :"app_role";
grant select on "record_values" to :"app_role";
grant select, insert, update, delete on "record_values" to :"system_role";

-- The app role changes a record's data only (its type, id and tenant never change), and a
-- field's rules only (never its kind or target).
revoke update on records from :"app_role";
grant update (data) on records to :"app_role";
revoke update on record_fields from :"app_role";
grant update (required, is_unique, case_insensitive, deprecated) on record_fields to :"app_role";
revoke update on record_types from :"app_role";
grant update (json_schema) on record_types to :"app_role";

-- The permission table, held in the database (migration 0014, with the tenant in the
-- expression as migration 0021 explains): records are written with the write permission,
-- types are defined with manage.
create policy permission_insert on records as restrictive for insert to :"app_role"
  with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('write'));
create policy permission_update on records as restrictive for update to :"app_role"
  using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('write'));
create policy permission_delete on records as restrictive for delete to :"app_role"
  using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('write'));
create policy permission_insert on record_types as restrictive for insert to :"app_role"
  with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('manage'));
create policy permission_update on record_types as restrictive for update to :"app_role"
  using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('manage'));
create policy permission_delete on record_types as restrictive for delete to :"app_role"
  using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('manage'));
create policy permission_insert on record_fields as restrictive for insert to :"app_role"
  with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('manage'));
create policy permission_update on record_fields as restrictive for update to :"app_role"
  using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('manage'));
create policy permission_insert on record_type_versions as restrictive for insert to :"app_role"
  with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid and rowguard.may('manage'));

-- Record events name their type: record.<type>.created, .updated, .deleted.
alter table outbox_events drop constraint outbox_events_type_check;
alter table outbox_events add constraint outbox_events_type_check
  check (type ~ '^[a-z_]+\.[a-z_]+$' or type ~ '^record\.[a-z][a-z0-9_]{0,39}\.(created|updated|deleted)$');

revoke all on function rowguard.index_record(uuid, text, uuid, jsonb, boolean, text) from public;
revoke all on function rowguard.index_record_trigger() from public;
revoke all on function rowguard.reindex_record_type() from public;
revoke all on function rowguard.delete_record_trigger() from public;
