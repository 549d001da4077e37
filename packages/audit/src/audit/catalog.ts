import { isCitus, shardPolicyProblems, TENANT_SETTING, type ShardPolicyProblem } from '@rowguard/kernel';
import { contextSources, tenantSettingOf, whyNotPinned } from './policy-expression.js';
import type pg from 'pg';

export interface Policy {
  name: string;
  command: string; // '*', 'r' (select), 'a' (insert), 'w' (update), 'd' (delete)
  permissive: boolean;
  roles: string[]; // 'public' for PUBLIC
  using: string | null;
  check: string | null;
  /** Functions the policy expressions call, with their volatility ('i', 's', 'v'). */
  functions: { name: string; signature: string; volatility: string }[];
  /** COMMENT ON POLICY … IS 'rowguard:reviewed <why>': the why, when someone vouched for it. */
  reviewed: string | null;
}

export interface Table {
  oid: number;
  schema: string;
  name: string;
  /** schema-qualified and quoted, for fix SQL */
  qualified: string;
  kind: 'r' | 'p';
  owner: string;
  /** The owner is a superuser or has BYPASSRLS: FORCE does not bind it. */
  ownerBypassesRls: boolean;
  rlsEnabled: boolean;
  rlsForced: boolean;
  hasTenantColumn: boolean;
  partitionOf: string | null;
  policies: Policy[];
  /** Leading column of each index. */
  indexLeads: string[];
  /** Unique constraints and unique indexes: name and columns. */
  uniques: { name: string; columns: string[]; constraint: boolean; primaryKey: boolean }[];
  foreignKeys: { name: string; columns: string[]; references: string; referencesTenantTable: boolean }[];
  /** Columns filled from a sequence (serial, identity). */
  sequenceColumns: string[];
  appPrivileges: { select: boolean; insert: boolean; update: boolean; delete: boolean; truncate: boolean; references: boolean; trigger: boolean };
}

export interface Relation {
  schema: string;
  name: string;
  qualified: string;
  kind: 'v' | 'm' | 'f';
  owner: string;
  ownerBypassesRls: boolean;
  securityInvoker: boolean;
  /** Tenant tables it reads. */
  readsTenantTables: string[];
  appCanSelect: boolean;
}

export interface RoleFacts {
  name: string;
  superuser: boolean;
  bypassRls: boolean;
  /** Relations in the audited schemas this role owns. */
  owns: string[];
}

export interface FunctionFacts {
  signature: string;
  schema: string;
  securityDefiner: boolean;
  pinnedSearchPath: boolean;
  /** Its SET search_path, e.g. 'public, pg_temp'; null when it has none. */
  searchPath: string | null;
  /** Called by a policy of a tenant table: its body runs inside the policy check. */
  calledByTenantPolicy: boolean;
  /** Tenant tables it is an enabled trigger of. */
  triggerOf: string[];
  /** Its body names a table without a schema (a text match), which the search_path resolves. */
  namesUnqualifiedTable: boolean;
  leakproof: boolean;
  appCanExecute: boolean;
  /** Tenant tables its body names (a text match: functions are opaque to the catalog). */
  mentionsTenantTables: string[];
  builtIn: boolean;
  /** Marked as reviewed with COMMENT ON FUNCTION … IS 'rowguard:reviewed …'. */
  reviewed: boolean;
}

export interface Catalog {
  serverVersionNum: number;
  schemas: string[];
  tenantColumn: string;
  tables: Table[];
  relations: Relation[];
  functions: FunctionFacts[];
  appRole: string | null;
  /** The app role may create temporary tables here, which shadow unqualified names unless pg_temp is listed. */
  appCanCreateTemp: boolean;
  /** The app role itself, then every role it can become. */
  appRoles: RoleFacts[];
  /** Schemas where the app role may CREATE. */
  appCreateSchemas: string[];
  /** Tenant policies read Rowguard's signed tenant context (rowguard.tenant_id()). */
  signedContext: boolean;
  /** The setting most tenant tables' policies read (app.tenant_id when none): fixes read it too. */
  contextSetting: string;
  /** The tenant column's type on the tenant tables (uuid when there is none), for the fix's cast. */
  tenantColumnType: string;
  /**
   * No tenant policy reads a tenant context (a setting or the signed context), yet some pin the
   * tenant column: the database looks tenants up another way (a membership check of the
   * caller, e.g. has_role_on_account(account_id)), and a fix written with the context
   * predicate would lock its app out.
   */
  looksUpTenants: boolean;
  /**
   * On Citus: the shards and worker copies of distributed tables whose policies are not the
   * table's (Citus copies a restrictive policy as permissive). Empty elsewhere.
   */
  shardPolicyProblems: ShardPolicyProblem[];
}

export interface CatalogOptions {
  schemas?: readonly string[];
  tenantColumn: string;
  appRole: string | null;
}

/**
 * One read of the catalog: everything the lints look at, gathered with plain SELECTs on
 * system catalogs (no writes, no locks beyond those).
 */
export async function readCatalog(client: pg.ClientBase, { schemas: wanted, tenantColumn, appRole }: CatalogOptions): Promise<Catalog> {
  const version = Number((await client.query<{ server_version_num: string }>('show server_version_num')).rows[0]!.server_version_num);
  const schemas = wanted?.length
    ? [...wanted]
    : (
        await client.query<{ nspname: string }>(
          `select nspname from pg_namespace
           where nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and nspname not like 'pg\\_temp\\_%' and nspname not like 'pg\\_toast\\_temp\\_%'
           order by 1`,
        )
      ).rows.map((r) => r.nspname);

  const { rows: tableRows } = await client.query(
    `select c.oid::int, n.nspname as schema, c.relname as name, format('%I.%I', n.nspname, c.relname) as qualified, c.relkind as kind,
            pg_get_userbyid(c.relowner) as owner, (select o.rolsuper or o.rolbypassrls from pg_roles o where o.oid = c.relowner) as owner_bypasses,
            c.relrowsecurity as rls_enabled, c.relforcerowsecurity as rls_forced,
            exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = $2 and not a.attisdropped) as has_tenant_column,
            (select format_type(a.atttypid, null) from pg_attribute a where a.attrelid = c.oid and a.attname = $2 and not a.attisdropped) as tenant_column_type,
            (select format('%I.%I', pn.nspname, p.relname) from pg_inherits i join pg_class p on p.oid = i.inhparent join pg_namespace pn on pn.oid = p.relnamespace
              where i.inhrelid = c.oid and c.relispartition) as partition_of,
            array(select a.attname::text from pg_index x join pg_attribute a on a.attrelid = x.indrelid and a.attnum = x.indkey[0] where x.indrelid = c.oid) as index_leads,
            array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and not a.attisdropped and a.attnum > 0
                   and (a.attidentity <> '' or pg_get_expr((select d.adbin from pg_attrdef d where d.adrelid = c.oid and d.adnum = a.attnum), c.oid) like 'nextval(%')) as sequence_columns
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname = any($1)
     order by 2, 3`,
    [schemas, tenantColumn],
  );
  const oids = tableRows.map((t) => t.oid as number);

  const { rows: policyRows } = await client.query(
    `select p.polrelid::int as table_oid, p.polname as name, p.polcmd::text as command, p.polpermissive as permissive,
            case when p.polroles = '{0}' then array['public'] else array(select rolname::text from pg_roles where oid = any(p.polroles)) end as roles,
            pg_get_expr(p.polqual, p.polrelid) as using, pg_get_expr(p.polwithcheck, p.polrelid) as check,
            coalesce((select json_agg(json_build_object('name', f.proname, 'signature', f.oid::regprocedure::text, 'volatility', f.provolatile))
                      from pg_depend d join pg_proc f on f.oid = d.refobjid
                      where d.classid = 'pg_policy'::regclass and d.objid = p.oid and d.refclassid = 'pg_proc'::regclass), '[]') as functions,
            substring(obj_description(p.oid, 'pg_policy') from '^rowguard:reviewed\\s*(.*)$') as reviewed
     from pg_policy p where p.polrelid = any($1)`,
    [oids],
  );

  const { rows: constraintRows } = await client.query(
    `select k.conrelid::int as table_oid, k.conname as name, k.contype as type,
            array(select a.attname::text from unnest(k.conkey) with ordinality u(n, i) join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i) as columns,
            case when k.contype = 'f' then format('%I.%I', rn.nspname, r.relname) end as references,
            k.confrelid::int as references_oid
     from pg_constraint k left join pg_class r on r.oid = k.confrelid left join pg_namespace rn on rn.oid = r.relnamespace
     where k.conrelid = any($1) and k.contype in ('u', 'p', 'f')`,
    [oids],
  );
  const { rows: uniqueIndexRows } = await client.query(
    `select x.indrelid::int as table_oid, i.relname as name,
            array(select a.attname::text from unnest(x.indkey) with ordinality u(n, k) join pg_attribute a on a.attrelid = x.indrelid and a.attnum = u.n order by u.k) as columns
     from pg_index x join pg_class i on i.oid = x.indexrelid
     where x.indrelid = any($1) and x.indisunique and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)`,
    [oids],
  );

  const privileges = appRole
    ? (
        await client.query(
          `select c.oid::int as table_oid,
                  has_table_privilege($2, c.oid, 'SELECT') as select, has_table_privilege($2, c.oid, 'INSERT') as insert,
                  has_table_privilege($2, c.oid, 'UPDATE') as update, has_table_privilege($2, c.oid, 'DELETE') as delete,
                  has_table_privilege($2, c.oid, 'TRUNCATE') as truncate, has_table_privilege($2, c.oid, 'REFERENCES') as references,
                  has_table_privilege($2, c.oid, 'TRIGGER') as trigger
           from pg_class c where c.oid = any($1)`,
          [oids, appRole],
        )
      ).rows
    : [];

  const tenantOids = new Set(tableRows.filter((t) => t.has_tenant_column).map((t) => t.oid as number));
  const tables: Table[] = tableRows.map((t) => {
    const cons = constraintRows.filter((k) => k.table_oid === t.oid);
    const priv = privileges.find((p) => p.table_oid === t.oid);
    return {
      oid: t.oid,
      schema: t.schema,
      name: t.name,
      qualified: t.qualified,
      kind: t.kind,
      owner: t.owner,
      ownerBypassesRls: t.owner_bypasses,
      rlsEnabled: t.rls_enabled,
      rlsForced: t.rls_forced,
      hasTenantColumn: t.has_tenant_column,
      partitionOf: t.partition_of,
      policies: policyRows.filter((p) => p.table_oid === t.oid).map((p) => ({ name: p.name, command: p.command, permissive: p.permissive, roles: p.roles, using: p.using, check: p.check, functions: p.functions, reviewed: p.reviewed })),
      indexLeads: t.index_leads,
      uniques: [
        ...cons.filter((k) => k.type !== 'f').map((k) => ({ name: k.name, columns: k.columns, constraint: true, primaryKey: k.type === 'p' })),
        ...uniqueIndexRows.filter((x) => x.table_oid === t.oid).map((x) => ({ name: x.name, columns: x.columns, constraint: false, primaryKey: false })),
      ],
      foreignKeys: cons.filter((k) => k.type === 'f').map((k) => ({ name: k.name, columns: k.columns, references: k.references, referencesTenantTable: tenantOids.has(k.references_oid) })),
      sequenceColumns: t.sequence_columns,
      appPrivileges: priv
        ? { select: priv.select, insert: priv.insert, update: priv.update, delete: priv.delete, truncate: priv.truncate, references: priv.references, trigger: priv.trigger }
        : { select: false, insert: false, update: false, delete: false, truncate: false, references: false, trigger: false },
    };
  });

  const { rows: relationRows } = await client.query(
    `select n.nspname as schema, c.relname as name, format('%I.%I', n.nspname, c.relname) as qualified, c.relkind as kind,
            pg_get_userbyid(c.relowner) as owner, (o.rolsuper or o.rolbypassrls) as owner_bypasses,
            coalesce(c.reloptions::text[] && array['security_invoker=true', 'security_invoker=on', 'security_invoker=1'], false) as security_invoker,
            array(select distinct format('%I.%I', tn.nspname, t.relname) from pg_rewrite r join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
                   join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
                   where r.ev_class = c.oid and t.oid <> c.oid and t.oid = any($2)) as reads,
            case when $3::text is null then false else has_table_privilege($3, c.oid, 'SELECT') end as app_can_select
     from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_roles o on o.oid = c.relowner
     where c.relkind in ('v', 'm', 'f') and n.nspname = any($1)`,
    [schemas, [...tenantOids], appRole],
  );

  const tenantNames = tables.filter((t) => t.hasTenantColumn).map((t) => t.name);
  const { rows: functionRows } = await client.query(
    `select p.oid::regprocedure::text as signature, n.nspname as schema, p.prosecdef as security_definer,
            (select substr(s, 13) from unnest(coalesce(p.proconfig, '{}')) s where s like 'search\\_path=%') as search_path,
            p.proleakproof as leakproof, p.prosrc as source,
            case when $2::text is null then false else has_function_privilege($2, p.oid, 'EXECUTE') end as app_can_execute,
            n.nspname in ('pg_catalog', 'information_schema') as built_in,
            coalesce(obj_description(p.oid, 'pg_proc'), '') like 'rowguard:reviewed%' as reviewed,
            p.oid in (select d.refobjid from pg_depend d join pg_policy pol on pol.oid = d.objid
                      where d.classid = 'pg_policy'::regclass and d.refclassid = 'pg_proc'::regclass and pol.polrelid = any($3)) as called_by_policy,
            array(select format('%I.%I', tn.nspname, tc.relname) from pg_trigger tg join pg_class tc on tc.oid = tg.tgrelid join pg_namespace tn on tn.oid = tc.relnamespace
                  where tg.tgfoid = p.oid and not tg.tgisinternal and tg.tgenabled <> 'D' and tg.tgrelid = any($3) order by 1) as trigger_of
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
     where (n.nspname = any($1) or (p.proleakproof and n.nspname <> 'pg_catalog')
            or (l.lanname not in ('internal', 'c') and p.oid in (select d.refobjid from pg_depend d join pg_policy pol on pol.oid = d.objid
                  where d.classid = 'pg_policy'::regclass and d.refclassid = 'pg_proc'::regclass and pol.polrelid = any($3))))`,
    [schemas, appRole, [...tenantOids]],
  );
  const functions: FunctionFacts[] = functionRows.map((f) => ({
    signature: f.signature,
    schema: f.schema,
    securityDefiner: f.security_definer,
    pinnedSearchPath: f.search_path !== null,
    searchPath: f.search_path,
    calledByTenantPolicy: f.called_by_policy,
    triggerOf: f.trigger_of,
    namesUnqualifiedTable: namesUnqualifiedTable(f.source ?? ''),
    leakproof: f.leakproof,
    appCanExecute: f.app_can_execute,
    mentionsTenantTables: tenantNames.filter((name) => new RegExp(`\\b${name}\\b`, 'i').test(f.source ?? '')),
    builtIn: f.built_in,
    reviewed: f.reviewed,
  }));
  const appCanCreateTemp = appRole !== null && (await client.query<{ temp: boolean }>(`select has_database_privilege($1, current_database(), 'TEMP') as temp`, [appRole])).rows[0]!.temp;

  let appRoles: RoleFacts[] = [];
  let appCreateSchemas: string[] = [];
  if (appRole) {
    const { rows } = await client.query(
      `select r.rolname as name, r.rolsuper as superuser, r.rolbypassrls as bypass_rls,
              array(select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where c.relowner = r.oid and c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname = any($2) order by 1) as owns
       from pg_roles r where pg_has_role($1, r.oid, 'MEMBER') order by r.rolname <> $1, r.rolname`,
      [appRole, schemas],
    );
    appRoles = rows.map((r) => ({ name: r.name, superuser: r.superuser, bypassRls: r.bypass_rls, owns: r.owns }));
    appCreateSchemas = (
      await client.query<{ nspname: string }>(`select nspname from pg_namespace where nspname = any($2) and has_schema_privilege($1, oid, 'CREATE') order by 1`, [appRole, schemas])
    ).rows.map((r) => r.nspname);
  }

  const shardProblems = (await isCitus(client)) ? await shardPolicyProblems(client) : [];
  return {
    serverVersionNum: version,
    schemas,
    tenantColumn,
    tables,
    relations: relationRows.map((r) => ({
      schema: r.schema,
      name: r.name,
      qualified: r.qualified,
      kind: r.kind,
      owner: r.owner,
      ownerBypassesRls: r.owner_bypasses,
      securityInvoker: r.security_invoker,
      readsTenantTables: r.reads,
      appCanSelect: r.app_can_select,
    })),
    functions,
    appRole,
    appCanCreateTemp,
    appRoles,
    appCreateSchemas,
    signedContext: tables.some((t) => t.policies.some((p) => p.using?.includes('rowguard.tenant_id()'))),
    looksUpTenants: looksUpTenants(tables, tenantColumn),
    contextSetting: tenantSettingOf(tables.filter((t) => t.hasTenantColumn).map((t) => t.policies.flatMap((p) => [p.using, p.check]))) ?? TENANT_SETTING,
    tenantColumnType: tableRows.find((t) => t.has_tenant_column)?.tenant_column_type ?? 'uuid',
    shardPolicyProblems: shardProblems,
  };
}

function looksUpTenants(tables: Table[], column: string): boolean {
  const policies = tables.filter((t) => t.hasTenantColumn).flatMap((t) => t.policies);
  const clauses = policies.flatMap((p) => [p.using, p.check]).filter((c): c is string => c !== null);
  return !clauses.some((c) => contextSources(c).length > 0) && clauses.some((c) => whyNotPinned(c, column) === null);
}

// A table name after FROM, JOIN, UPDATE, INSERT INTO, DELETE FROM or TABLE that is neither
// schema-qualified (name.) nor a call (name(), e.g. FROM unnest(…)).
const TABLE_AFTER_KEYWORD = /\b(?:from|join|update|insert\s+into|table)\s+(?:only\s+)?("?[A-Za-z_][\w$]*"?)(?![\w$"]|\s*[.(])/gi;
const NOT_TABLES = new Set(['select', 'lateral', 'only', 'set', 'where']);

function namesUnqualifiedTable(source: string): boolean {
  const code = source.replace(/'(?:[^']|'')*'/g, "''").replace(/--.*$/gm, '');
  return [...code.matchAll(TABLE_AFTER_KEYWORD)].some((m) => !NOT_TABLES.has(m[1]!.toLowerCase()));
}

