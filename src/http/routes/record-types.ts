import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { SQLSTATE } from '@rowguard/kernel';
import { ifMatch } from '../if-match.js';
import type { AppEnv } from '../context-variables.js';
import { keyset, pageOf, pageParams } from '../pagination.js';
import { HttpProblem, notFound, type FieldError } from '../problem.js';
import { recordChange } from '../record-change.js';
import { problemSchemas, timestamp } from '../schemas.js';
import type { RequestScope } from '../request-scope.js';
import { checkJsonSchema, effectiveSchema, FIELD_KINDS, type FieldDefinition } from '../../records/record-schema.js';
import { RECORD_SQLSTATE } from '../../records/record-errors.js';
import { insertFieldsStatement, loadRecordType, saveVersion, TYPE_COLUMNS, type StoredRecordType } from '../../records/record-type-store.js';

/** A record type's name: an identifier, since it names a path, a view and events. */
export const typeName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be a lower-case identifier of at most 40 characters (a-z, 0-9, _), starting with a letter');
const fieldName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a lower-case identifier of at most 63 characters (a-z, 0-9, _), starting with a letter');
const jsonSchema = z.record(z.string(), z.unknown()).openapi({ description: 'JSON Schema (draft 2020-12) of the records’ data', example: { type: 'object' } });

const references = z.object({
  type: typeName.openapi({ description: 'The record type referred to (of the same tenant)' }),
  on_delete: z.enum(['restrict', 'cascade']).default('restrict').openapi({ description: 'When the referred record is deleted: refuse (restrict), or delete this record too (cascade)' }),
});

const fieldInput = z
  .object({
    name: fieldName,
    kind: z.enum(FIELD_KINDS),
    required: z.boolean().default(false),
    unique: z.boolean().default(false).openapi({ description: 'Unique among the tenant’s records of this type' }),
    case_insensitive: z.boolean().default(false).openapi({ description: 'Unique regardless of case (text fields)' }),
    references: references.optional().openapi({ description: 'For kind reference: the type referred to' }),
  })
  .strict()
  .superRefine((f, ctx) => {
    if ((f.kind === 'reference') !== (f.references !== undefined)) ctx.addIssue({ code: 'custom', path: ['references'], message: 'is required for a reference field, and only for one' });
    if (f.case_insensitive && !(f.unique && f.kind === 'text')) ctx.addIssue({ code: 'custom', path: ['case_insensitive'], message: 'applies to a unique text field' });
  });

const fieldChange = z
  .object({
    unique: z.boolean().optional(),
    case_insensitive: z.boolean().optional(),
    required: z.boolean().optional(),
    deprecated: z.boolean().optional().openapi({ description: 'Kept, no longer required, marked deprecated in the OpenAPI document' }),
  })
  .strict();

const createBody = z
  .object({ name: typeName, json_schema: jsonSchema.default({ type: 'object' }), fields: z.array(fieldInput).max(64).default([]) })
  .strict()
  .openapi('RecordTypeCreate');
const updateBody = z
  .object({ json_schema: jsonSchema.optional(), add_fields: z.array(fieldInput).max(64).optional(), change_fields: z.record(fieldName, fieldChange).optional() })
  .strict()
  .openapi('RecordTypeUpdate');

const Field = z.object({
  name: z.string(),
  kind: z.enum(FIELD_KINDS),
  required: z.boolean(),
  unique: z.boolean(),
  case_insensitive: z.boolean(),
  deprecated: z.boolean(),
  references: z.object({ type: z.string(), on_delete: z.enum(['restrict', 'cascade']) }).nullable(),
});
const RecordTypeSchema = z
  .object({ id: z.string().uuid(), name: z.string(), version: z.number().int(), json_schema: jsonSchema, fields: z.array(Field), created_at: timestamp, updated_at: timestamp })
  .openapi('RecordType');
const Version = z.object({ version: z.number().int(), json_schema: jsonSchema, fields: z.array(Field), changed_by: z.string(), created_at: timestamp }).openapi('RecordTypeVersion');

const tags = ['Record types'];
const security = [{ bearer: [] }];
const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
const nameParam = z.object({ name: typeName.openapi({ param: { name: 'name', in: 'path' } }) });

const asDefinition = (f: z.infer<typeof fieldInput>): FieldDefinition => ({
  name: f.name,
  kind: f.kind,
  required: f.required,
  unique: f.unique,
  case_insensitive: f.case_insensitive,
  references: f.references ?? null,
  deprecated: false,
});

function present(t: StoredRecordType) {
  return { id: t.id, name: t.name, version: t.version, json_schema: t.json_schema, fields: t.fields, created_at: t.created_at, updated_at: t.updated_at };
}

function checkDefinition(schema: Record<string, unknown>, fields: FieldDefinition[]): void {
  checkJsonSchema(schema);
  const names = fields.map((f) => f.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated) throw new HttpProblem('VALIDATION_FAILED', undefined, [{ field: 'body.fields', message: `field ${repeated} is declared twice` }]);
  // The tenant's schema and the declared kinds together must still describe some record.
  checkJsonSchema(effectiveSchema({ json_schema: schema, fields }));
}

/** The referenced types that do not exist (the type being defined may refer to itself). */
async function missingTargets(scope: RequestScope, self: string, fields: FieldDefinition[]): Promise<FieldError[]> {
  const targets = [...new Set(fields.flatMap((f) => (f.references && f.references.type !== self ? [f.references.type] : [])))];
  if (targets.length === 0) return [];
  const { rows } = await scope.query<{ name: string }>('select name from record_types where tenant_id = $1 and name = any($2)', [scope.tenantId, targets]);
  const found = new Set(rows.map((r) => r.name));
  return fields.filter((f) => f.references && f.references.type !== self && !found.has(f.references.type)).map((f) => ({ field: `body.fields.${f.name}.references.type`, message: `no record type ${f.references!.type}` }));
}

/**
 * Values that records of the type share for `field`, which a new unique constraint would
 * refuse: at most 20, each with the records that hold it (the tenant's own data).
 */
async function duplicates(scope: RequestScope, type: string, field: FieldDefinition): Promise<FieldError[]> {
  const { rows } = await scope.query<{ value: string; ids: string[] }>(
    `select coalesce(min(text_value), min(number_value)::text, bool_or(bool_value)::text, min(date_value)::text, min(time_value)::text, min(target_id::text)) as value,
            array_agg(record_id order by record_id) as ids
       from record_values
      where tenant_id = $1 and type = $2 and field = $3
        and coalesce(text_value, number_value::text, bool_value::text, date_value::text, time_value::text, target_id::text) is not null
      group by case when $4 then lower(text_value) else text_value end, number_value, bool_value, date_value, time_value, target_id
     having count(*) > 1
      limit 20`,
    [scope.tenantId, type, field.name, field.case_insensitive],
  );
  return rows.map((r) => ({ field: `body.change_fields.${field.name}`, message: `${JSON.stringify(r.value)} is held by ${r.ids.length} records: ${r.ids.slice(0, 10).join(', ')}` }));
}

// What the records triggers raise when an existing record breaks a change of its type.
const BREAKING_RECORDS = new Set<string>([RECORD_SQLSTATE.REQUIRED, RECORD_SQLSTATE.WRONG_KIND, RECORD_SQLSTATE.REFERENCE_NOT_FOUND, SQLSTATE.UNIQUE_VIOLATION]);

/** Runs a change of fields; what existing records break becomes 409 TYPE_CHANGE_CONFLICTS with the field. */
async function applyToRecords(scope: RequestScope, text: string, values: unknown[]): Promise<void> {
  try {
    await scope.query(text, values);
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (message?.startsWith('record field') && BREAKING_RECORDS.has(code ?? '')) {
      throw new HttpProblem('TYPE_CHANGE_CONFLICTS', `An existing record breaks it: ${message}`);
    }
    throw error;
  }
}

/** /v1/record-types: a tenant's record types, defined and changed by admins, read by every member. */
export function registerRecordTypeRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/record-types',
      tags,
      security,
      summary: 'List record types',
      request: { query: z.object(pageParams) },
      responses: { 200: { description: 'A page, newest first', content: json(z.object({ data: z.array(RecordTypeSchema), next_cursor: z.string().nullable() })) }, ...problemSchemas.read },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const scope = c.get('scope');
      scope.authorize('read');
      const values: unknown[] = [scope.tenantId];
      const { after, column, orderAndLimit } = keyset(query, values, 't.');
      const { rows } = await scope.last<StoredRecordType & { _cursor: string }>(`select ${TYPE_COLUMNS}, ${column} from record_types t where t.tenant_id = $1${after ? ` and ${after}` : ''} ${orderAndLimit}`, values);
      const page = pageOf(rows as unknown as Record<string, unknown>[], query.limit);
      return c.json({ data: page.data.map((t) => present(t as unknown as StoredRecordType)), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/record-types/{name}',
      tags,
      security,
      summary: 'Get a record type',
      request: { params: nameParam },
      responses: { 200: { description: 'The type; ETag carries its version', content: json(RecordTypeSchema) }, ...problemSchemas.readOne },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      c.get('scope').authorize('read');
      const type = await loadRecordType(c.get('scope'), name);
      if (!type) throw notFound();
      c.header('ETag', `"${type.version}"`);
      return c.json(present(type), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/record-types/{name}/versions',
      tags,
      security,
      summary: 'Every definition the type had, newest first',
      request: { params: nameParam },
      responses: { 200: { description: 'The versions', content: json(z.object({ data: z.array(Version) })) }, ...problemSchemas.readOne },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const scope = c.get('scope');
      scope.authorize('read');
      const { rows } = await scope.last(
        `select version, json_schema, fields, changed_by, created_at from record_type_versions where tenant_id = $1 and record_type = $2 order by version desc limit 1000`,
        [scope.tenantId, name],
      );
      if (rows.length === 0) throw notFound();
      return c.json({ data: rows as z.infer<typeof Version>[] }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/record-types',
      tags,
      security,
      summary: 'Define a record type',
      description: 'Needs the manage permission. The database holds every record of the type to its declared fields: kinds, required, unique, references.',
      request: {
        body: {
          content: json(createBody),
          required: true,
        },
      },
      responses: { 201: { description: 'Defined', content: json(RecordTypeSchema) }, ...problemSchemas.write },
    }),
    async (c) => {
      const body = c.req.valid('json') as z.infer<typeof createBody>;
      const scope = c.get('scope');
      scope.authorize('manage');
      const fields = body.fields.map(asDefinition);
      checkDefinition(body.json_schema, fields);
      const missing = await missingTargets(scope, body.name, fields);
      if (missing.length > 0) throw new HttpProblem('SCHEMA_INVALID', 'A reference names a record type that does not exist', missing);
      const { rows } = await scope.query<StoredRecordType>(
        `insert into record_types (tenant_id, name, json_schema) values ($1, $2, $3) returning id, name, version, json_schema, created_at, updated_at`,
        [scope.tenantId, body.name, JSON.stringify(body.json_schema)],
      );
      const type: StoredRecordType = { ...rows[0]!, fields };
      if (fields.length > 0) {
        const insert = insertFieldsStatement(scope.tenantId, type.name, fields, 0, type.version);
        await scope.query(insert.text, insert.values);
      }
      await saveVersion(scope, type);
      await recordChange(scope, { action: 'record_type.created', entityType: 'record_type', entityId: type.id, changes: present(type), events: ['record_type.created'], payload: present(type) });
      c.header('ETag', `"${type.version}"`);
      c.header('Location', `/v1/record-types/${type.name}`);
      return c.json(present(type), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/record-types/{name}',
      tags,
      security,
      summary: 'Change a record type',
      description:
        'Needs the manage permission. Replace the JSON Schema, add fields, or change a field’s rules (unique, case_insensitive, required, deprecated). Every change applies to the existing records in the same transaction: a unique constraint over duplicate values, or a required field that records lack, is refused with the records that break it. Each change makes a new version. Send If-Match with the ETag to change only the version you read.',
      request: {
        params: nameParam,
        body: {
          content: json(updateBody),
          required: true,
        },
      },
      responses: { 200: { description: 'Changed', content: json(RecordTypeSchema) }, ...problemSchemas.update },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const body = c.req.valid('json') as z.infer<typeof updateBody>;
      const expected = ifMatch(c);
      const scope = c.get('scope');
      scope.authorize('manage');
      // Locked: records being written under the type finish first, later ones wait.
      const current = await loadRecordType(scope, name, { lock: true });
      if (!current) throw notFound();
      if (expected !== null && expected !== current.version) throw new HttpProblem('VERSION_MISMATCH');

      const added = (body.add_fields ?? []).map(asDefinition);
      const changes = Object.entries(body.change_fields ?? {});
      const byName = new Map(current.fields.map((f) => [f.name, f]));
      const problems: FieldError[] = [];
      for (const f of added) if (byName.has(f.name)) problems.push({ field: `body.add_fields.${f.name}`, message: 'is already a field of this type' });
      for (const [field] of changes) if (!byName.has(field)) problems.push({ field: `body.change_fields.${field}`, message: 'is not a field of this type' });
      if (problems.length > 0) throw new HttpProblem('VALIDATION_FAILED', undefined, problems);

      const fields = current.fields.map((f) => {
        const change = body.change_fields?.[f.name];
        if (!change) return f;
        const deprecated = change.deprecated ?? f.deprecated;
        const unique = change.unique ?? f.unique;
        return { ...f, unique, deprecated, case_insensitive: unique && (change.case_insensitive ?? f.case_insensitive), required: !deprecated && (change.required ?? f.required) };
      });
      for (const f of fields) {
        if (f.case_insensitive && f.kind !== 'text') problems.push({ field: `body.change_fields.${f.name}.case_insensitive`, message: 'applies to a unique text field' });
      }
      if (problems.length > 0) throw new HttpProblem('VALIDATION_FAILED', undefined, problems);
      const schema = body.json_schema ?? current.json_schema;
      checkDefinition(schema, [...fields, ...added]);
      const missing = await missingTargets(scope, name, added);
      if (missing.length > 0) throw new HttpProblem('SCHEMA_INVALID', 'A reference names a record type that does not exist', missing);

      // Unique constraints being added: list what existing records share, before trying.
      for (const f of fields) {
        const before = byName.get(f.name)!;
        if (f.unique && (!before.unique || (before.case_insensitive !== f.case_insensitive && f.case_insensitive))) {
          const shared = await duplicates(scope, name, f);
          if (shared.length > 0) throw new HttpProblem('TYPE_CHANGE_CONFLICTS', `Records of ${name} share values of ${f.name}; make them unique first`, shared);
        }
      }

      const { rows } = await scope.query<{ version: number; updated_at: string }>(
        `update record_types set json_schema = $3 where tenant_id = $1 and name = $2 returning version, updated_at`,
        [scope.tenantId, name, JSON.stringify(schema)],
      );
      const version = rows[0]!.version;
      for (const f of fields) {
        const before = byName.get(f.name)!;
        if (f.unique === before.unique && f.case_insensitive === before.case_insensitive && f.required === before.required && f.deprecated === before.deprecated) continue;
        await applyToRecords(
          scope,
          `update record_fields set is_unique = $4, case_insensitive = $5, required = $6, deprecated = $7 where tenant_id = $1 and record_type = $2 and name = $3`,
          [scope.tenantId, name, f.name, f.unique, f.case_insensitive, f.required, f.deprecated],
        );
      }
      if (added.length > 0) {
        const insert = insertFieldsStatement(scope.tenantId, name, added, current.fields.length, version);
        await applyToRecords(scope, insert.text, insert.values);
      }
      const type: StoredRecordType = { ...current, json_schema: schema, fields: [...fields, ...added], version, updated_at: rows[0]!.updated_at };
      await saveVersion(scope, type);
      await recordChange(scope, {
        action: 'record_type.updated',
        entityType: 'record_type',
        entityId: type.id,
        changes: { version: { from: current.version, to: version }, ...(body.json_schema ? { json_schema: { from: current.json_schema, to: schema } } : {}), ...(added.length ? { added_fields: added } : {}), ...(changes.length ? { changed_fields: Object.fromEntries(changes) } : {}) },
        events: ['record_type.updated'],
        payload: present(type),
      });
      c.header('ETag', `"${version}"`);
      return c.json(present(type), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/record-types/{name}',
      tags,
      security,
      summary: 'Delete a record type that has no records',
      request: { params: nameParam },
      responses: { 204: { description: 'Deleted' }, ...problemSchemas.update },
    }),
    async (c) => {
      const { name } = c.req.valid('param');
      const scope = c.get('scope');
      scope.authorize('manage');
      const current = await loadRecordType(scope, name, { lock: true });
      if (!current) throw notFound();
      const { rows } = await scope.query<{ records: boolean; referenced_by: string | null }>(
        `select exists (select 1 from records where tenant_id = $1 and type = $2) as records,
                (select min(record_type) from record_fields where tenant_id = $1 and target_type = $2 and record_type <> $2) as referenced_by`,
        [scope.tenantId, name],
      );
      if (rows[0]!.records) throw new HttpProblem('RECORD_TYPE_IN_USE', `Records of type ${name} exist; delete them first`);
      if (rows[0]!.referenced_by) throw new HttpProblem('RECORD_TYPE_IN_USE', `Type ${rows[0]!.referenced_by} refers to ${name}`);
      scope.along('delete from record_types where tenant_id = $1 and name = $2', [scope.tenantId, name]);
      await recordChange(scope, { action: 'record_type.deleted', entityType: 'record_type', entityId: current.id, changes: { before: present(current) }, events: ['record_type.deleted'], payload: present(current) });
      return c.body(null, 204);
    },
  );
}
