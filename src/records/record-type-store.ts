import type { RequestScope } from '../http/request-scope.js';
import type { FieldDefinition, RecordType } from './record-schema.js';

/** A record type with its timestamps, as the API returns it. */
export interface StoredRecordType extends RecordType {
  id: string;
  created_at: string;
  updated_at: string;
}

const FIELDS_JSON = `coalesce((
    select json_agg(json_build_object(
             'name', f.name, 'kind', f.kind, 'required', f.required, 'unique', f.is_unique,
             'case_insensitive', f.case_insensitive, 'deprecated', f.deprecated,
             'references', case when f.target_type is null then null else json_build_object('type', f.target_type, 'on_delete', f.on_delete) end)
           order by f.position)
      from record_fields f where f.tenant_id = $1 and f.record_type = t.name), '[]')`;

/**
 * The columns of a stored type, read from `record_types t` in a statement that binds the
 * tenant as $1: the subquery names it too, so that Citus routes the statement (with FOR
 * UPDATE) to the tenant's node.
 */
export const TYPE_COLUMNS = `t.id, t.name, t.version, t.json_schema, ${FIELDS_JSON} as fields, t.created_at, t.updated_at`;

/**
 * One record type of the request's tenant, or null. `lock` holds it until the request ends:
 * a change of its fields waits for the records being written under it, and they for it (the
 * records trigger takes the type's key share lock).
 */
export async function loadRecordType(scope: RequestScope, name: string, { lock = false } = {}): Promise<StoredRecordType | null> {
  const { rows } = await scope.query<StoredRecordType>(`select ${TYPE_COLUMNS} from record_types t where t.tenant_id = $1 and t.name = $2${lock ? ' for update of t' : ''}`, [scope.tenantId, name]);
  return rows[0] ?? null;
}

/** An INSERT of fields of one type, as one statement: the columns of record_fields in order. */
export function insertFieldsStatement(tenantId: string, type: string, fields: FieldDefinition[], firstPosition: number, version: number): { text: string; values: unknown[] } {
  const values: unknown[] = [tenantId, type, version];
  const rows = fields.map((f, i) => {
    values.push(f.name, f.kind, f.required, f.unique, f.case_insensitive, f.references?.type ?? null, f.references?.on_delete ?? null, firstPosition + i);
    const p = values.length - 8;
    return `($1, $2, $${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}, $${p + 5}, $${p + 6}, $${p + 7}, $${p + 8}, $3)`;
  });
  return {
    text: `insert into record_fields (tenant_id, record_type, name, kind, required, is_unique, case_insensitive, target_type, on_delete, position, added_in_version) values ${rows.join(', ')}`,
    values,
  };
}

/** Stores the type's definition as of its current version (record_type_versions). */
export async function saveVersion(scope: RequestScope, type: RecordType): Promise<void> {
  await scope.query(
    `insert into record_type_versions (tenant_id, record_type, version, json_schema, fields, changed_by) values ($1, $2, $3, $4, $5, $6)`,
    [scope.tenantId, type.name, type.version, JSON.stringify(type.json_schema), JSON.stringify(type.fields), scope.actor],
  );
}
