import type pg from 'pg';
import { quoteIdent, quoteLiteral, type Kernel } from '@rowguard/kernel';
import type { FieldDefinition, FieldKind } from './record-schema.js';

/** The schema holding a tenant's record views: one per tenant, named by its id. */
export const viewSchema = (tenantId: string) => `tenant_${tenantId.replace(/-/g, '')}`;

const COMMENT_PREFIX = 'rowguard:record-view version ';

// The column of record_values each kind is stored in, and the kind's literal in the join: with
// it the partial index of that kind serves filters and sorts on the view's column.
const COLUMN_OF: Record<FieldKind, string> = {
  text: 'text_value',
  number: 'number_value',
  integer: 'number_value',
  boolean: 'bool_value',
  date: 'date_value',
  timestamp: 'time_value',
  reference: 'target_id',
};

interface TypeRow {
  tenant_id: string;
  name: string;
  version: number;
  fields: FieldDefinition[];
}

/**
 * The view of one record type: the record's columns and one typed column per declared field,
 * in the order the fields were added (a change only appends, so `create or replace` keeps
 * working). Every record has one record_values row per declared field (the records trigger
 * writes them all, null when absent), so each is an inner join, which the planner may start
 * from: a filter or a sort on a field reads that field's index first. Joins are listed in FROM
 * rather than as JOIN clauses, which the planner reorders only up to join_collapse_limit (8).
 * The tenant and type are constants: the planner routes on them (and Citus to one shard); the
 * policies, not these constants, decide who sees the rows.
 */
export function recordViewSql(type: TypeRow): string {
  const target = `${quoteIdent(viewSchema(type.tenant_id))}.${quoteIdent(type.name)}`;
  const columns = ['r.tenant_id', 'r.id', 'r.version', 'r.created_at', 'r.updated_at'];
  const from = ['public.records r'];
  const where = [`r.tenant_id = ${quoteLiteral(type.tenant_id)}::uuid`, `r.type = ${quoteLiteral(type.name)}`];
  type.fields.forEach((field, i) => {
    const v = `f${i}`;
    columns.push(`${v}.${COLUMN_OF[field.kind]} as ${quoteIdent(field.name)}`);
    from.push(`public.record_values ${v}`);
    where.push(`${v}.tenant_id = r.tenant_id and ${v}.type = r.type and ${v}.record_id = r.id and ${v}.field = ${quoteLiteral(field.name)} and ${v}.kind = ${quoteLiteral(field.kind)}`);
  });
  columns.push('r.data');
  return `create or replace view ${target} with (security_invoker = true) as\n  select ${columns.join(', ')}\n  from ${from.join(', ')}\n  where ${where.join('\n    and ')}`;
}

/**
 * Brings every tenant's record views up to date with its record types: creates the view of a
 * new type and of a changed one (created again when a change cannot be applied in place), and
 * drops the views of deleted types. The app role never runs DDL: the types are read in system
 * mode and the views created by the owner, as the privileged role, with security_invoker —
 * and the shared table is FORCE, so a view owned by its owner reads under the policies too.
 * A view may be read by the roles that may read the shared table (the app and system roles):
 * it reads as its caller, so it gives them nothing they could not read before. Serialized
 * across workers by an advisory lock. Returns how many views it created or dropped.
 */
export async function syncRecordViews({ kernel, ownerPool }: { kernel: Kernel; ownerPool: pg.Pool }): Promise<number> {
  const { rows: types } = await kernel.asSystem((tx) =>
    tx.query<TypeRow>(
      `select t.tenant_id, t.name, t.version,
              coalesce((select json_agg(json_build_object('name', f.name, 'kind', f.kind) order by f.position)
                          from record_fields f where f.tenant_id = t.tenant_id and f.record_type = t.name), '[]') as fields
         from record_types t`,
    ),
  );
  const client = await ownerPool.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext('rowguard:record-views'))`);
    const { rows: views } = await client.query<{ schema: string; name: string; comment: string | null }>(
      `select n.nspname as schema, c.relname as name, obj_description(c.oid, 'pg_class') as comment
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'v' and n.nspname like 'tenant\\_%' and pg_has_role(c.relowner, 'USAGE')`,
    );
    const existing = new Map(views.map((v) => [`${v.schema}.${v.name}`, v.comment]));
    const { rows: readers } = await client.query<{ role: string }>(
      `select distinct quote_ident(a.grantee::regrole::text) as role
         from pg_class c, aclexplode(c.relacl) a
        where c.oid = 'public.records'::regclass and a.privilege_type = 'SELECT' and a.grantee <> c.relowner and a.grantee <> 0`,
    );
    let changed = 0;
    for (const type of types) {
      const key = `${viewSchema(type.tenant_id)}.${type.name}`;
      const comment = `${COMMENT_PREFIX}${type.version}`;
      const current = existing.get(key);
      existing.delete(key);
      if (current === comment) continue;
      const schema = quoteIdent(viewSchema(type.tenant_id));
      const view = `${schema}.${quoteIdent(type.name)}`;
      await client.query(`create schema if not exists ${schema}`);
      for (const { role } of readers) await client.query(`grant usage on schema ${schema} to ${role}`);
      await client.query('savepoint replace_view');
      try {
        await client.query(recordViewSql(type));
      } catch {
        // A column that changed kind, or a view edited by hand: make it again.
        await client.query('rollback to savepoint replace_view');
        await client.query(`drop view if exists ${view}`);
        await client.query(recordViewSql(type));
      }
      await client.query(`revoke all on ${view} from public`);
      for (const { role } of readers) await client.query(`grant select on ${view} to ${role}`);
      await client.query(`comment on view ${view} is ${quoteLiteral(comment)}`);
      changed += 1;
    }
    // What is left belongs to types that no longer exist.
    for (const [key, comment] of existing) {
      if (!comment?.startsWith(COMMENT_PREFIX)) continue;
      const [schema, name] = key.split('.') as [string, string];
      await client.query(`drop view ${quoteIdent(schema)}.${quoteIdent(name)}`);
      changed += 1;
    }
    await client.query('commit');
    return changed;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
