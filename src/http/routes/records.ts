import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { ifMatch } from '../if-match.js';
import type { AppEnv } from '../context-variables.js';
import { keyset, pageOf, pageParams } from '../pagination.js';
import { pathId } from '../path-id.js';
import { HttpProblem } from '../problem.js';
import { diff, recordChange } from '../record-change.js';
import type { RequestScope } from '../request-scope.js';
import { problemSchemas, timestamp } from '../schemas.js';
import { recordFilters } from '../../records/record-filters.js';
import { validateRecordData, type RecordType } from '../../records/record-schema.js';
import { loadRecordType } from '../../records/record-type-store.js';
import { typeName } from './record-types.js';

type Row = { id: string; type: string; data: Record<string, unknown>; version: number; created_at: string; updated_at: string };

const COLUMNS = 'r.id, r.type, r.data, r.version, r.created_at, r.updated_at';

export const RecordSchema = z
  .object({
    id: z.string().uuid(),
    type: z.string(),
    data: z.record(z.string(), z.unknown()),
    version: z.number().int(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .openapi('Record');
const recordBody = z.object({ data: z.record(z.string(), z.unknown()) }).strict();

const tags = ['Records'];
const security = [{ bearer: [] }];
const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
const typeParam = typeName.openapi({ param: { name: 'type', in: 'path' } });
const idParam = z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' });

const present = (row: Row) => ({ id: row.id, type: row.type, data: row.data, version: row.version, created_at: row.created_at, updated_at: row.updated_at });
const events = (type: string, action: 'created' | 'updated' | 'deleted') => [`record.${type}.${action}`];


async function recordType(scope: RequestScope, name: string): Promise<RecordType> {
  const type = await loadRecordType(scope, name);
  if (!type) throw new HttpProblem('NOT_FOUND', `No record type ${name}`);
  return type;
}

/** RFC 7396 JSON merge patch: null removes a property, objects merge, anything else replaces. */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const result = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else if (typeof value === 'object' && !Array.isArray(value) && typeof result[key] === 'object' && result[key] !== null && !Array.isArray(result[key])) {
      result[key] = mergePatch(result[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else result[key] = value;
  }
  return result;
}

/**
 * /v1/records/{type}: a tenant's records of one of its types, with the conventions of every
 * resource (cursor pages, ETag and If-Match, Idempotency-Key, audit entry and events in the
 * write's transaction). The API validates data against the type's JSON Schema; the database
 * holds every write, from here or not, to the declared fields (migration 0022).
 */
export function registerRecordRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/records/{type}',
      tags,
      security,
      summary: 'List records of a type',
      description: 'Newest first. Filter on declared fields with `filter[<field>]=<value>` (equality; a case-insensitive unique field matches regardless of case).',
      request: { params: z.object({ type: typeParam }), query: z.object(pageParams).passthrough() },
      responses: { 200: { description: 'A page, newest first', content: json(z.object({ data: z.array(RecordSchema), next_cursor: z.string().nullable() })) }, ...problemSchemas.readOne },
    }),
    async (c) => {
      const { type: name } = c.req.valid('param');
      const query = c.req.valid('query') as { limit: number; cursor?: string };
      const scope = c.get('scope');
      scope.authorize('read');
      const type = await recordType(scope, name);
      const values: unknown[] = [scope.tenantId, name];
      const where = ['r.tenant_id = $1', 'r.type = $2'];
      for (const filter of recordFilters(type, c.req.query())) {
        values.push(filter.value);
        where.push(filter.sql(`$${values.length}`));
      }
      const { after, column, orderAndLimit } = keyset(query, values, 'r.');
      if (after) where.push(after);
      const { rows } = await scope.last<Row & { _cursor: string }>(`select ${COLUMNS}, ${column} from records r where ${where.join(' and ')} ${orderAndLimit}`, values);
      const page = pageOf(rows, query.limit);
      return c.json({ data: page.data.map((row) => present(row as Row)), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/records/{type}/{id}',
      tags,
      security,
      summary: 'Get a record',
      request: { params: z.object({ type: typeParam, id: idParam }) },
      responses: { 200: { description: 'The record; ETag carries its version', content: json(RecordSchema) }, ...problemSchemas.readOne },
    }),
    async (c) => {
      const id = pathId(c);
      const { type } = c.req.valid('param');
      const scope = c.get('scope');
      scope.authorize('read');
      const { rows } = await scope.last<Row>(`select ${COLUMNS} from records r where r.tenant_id = $1 and r.type = $2 and r.id = $3`, [scope.tenantId, type, id]);
      if (!rows[0]) throw new HttpProblem('NOT_FOUND');
      c.header('ETag', `"${rows[0].version}"`);
      return c.json(present(rows[0]), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/records/{type}',
      tags,
      security,
      summary: 'Create a record',
      description: 'The data is validated against the type’s JSON Schema (422 RECORD_INVALID with a JSON pointer per error); the database then holds it to the declared fields (unique: 409 CONFLICT; references: 422 REFERENCE_NOT_FOUND).',
      request: { params: z.object({ type: typeParam }), body: { content: json(recordBody.openapi('RecordWrite')), required: true } },
      responses: { 201: { description: 'Created', content: json(RecordSchema) }, ...problemSchemas.write },
    }),
    async (c) => {
      const { type: name } = c.req.valid('param');
      const { data } = c.req.valid('json') as z.infer<typeof recordBody>;
      const scope = c.get('scope');
      scope.authorize('write');
      const type = await recordType(scope, name);
      validateRecordData(scope.tenantId, type, data);
      const { rows } = await scope.query<Row>(`insert into records as r (tenant_id, type, data) values ($1, $2, $3) returning ${COLUMNS}`, [scope.tenantId, name, JSON.stringify(data)]);
      const row = rows[0]!;
      await recordChange(scope, { action: `record.${name}.created`, entityType: 'record', entityId: row.id, changes: present(row), events: events(name, 'created'), payload: present(row) });
      c.header('ETag', `"${row.version}"`);
      c.header('Location', `/v1/records/${name}/${row.id}`);
      return c.json(present(row), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/records/{type}/{id}',
      tags,
      security,
      summary: 'Change a record',
      description: 'The body’s data is a JSON merge patch (RFC 7396) of the record’s data: null removes a property. Send If-Match with the ETag to change only the version you read.',
      request: { params: z.object({ type: typeParam, id: idParam }), body: { content: json(recordBody.openapi('RecordPatch')), required: true } },
      responses: { 200: { description: 'Changed', content: json(RecordSchema) }, ...problemSchemas.update },
    }),
    async (c) => {
      const id = pathId(c);
      const { type: name } = c.req.valid('param');
      const { data: patch } = c.req.valid('json') as z.infer<typeof recordBody>;
      const expected = ifMatch(c);
      const scope = c.get('scope');
      scope.authorize('write');
      const type = await recordType(scope, name);
      const current = (await scope.query<Row>(`select ${COLUMNS} from records r where r.tenant_id = $1 and r.type = $2 and r.id = $3 for update`, [scope.tenantId, name, id])).rows[0];
      if (!current) throw new HttpProblem('NOT_FOUND');
      if (expected !== null && expected !== current.version) throw new HttpProblem('VERSION_MISMATCH');
      const data = mergePatch(current.data, patch);
      validateRecordData(scope.tenantId, type, data);
      const { rows } = await scope.query<Row>(`update records r set data = $3 where r.tenant_id = $1 and r.id = $2 returning ${COLUMNS}`, [scope.tenantId, id, JSON.stringify(data)]);
      const row = rows[0]!;
      await recordChange(scope, {
        action: `record.${name}.updated`,
        entityType: 'record',
        entityId: id,
        changes: diff(current.data, row.data, [...new Set([...Object.keys(current.data), ...Object.keys(row.data)])]),
        events: events(name, 'updated'),
        payload: present(row),
      });
      c.header('ETag', `"${row.version}"`);
      return c.json(present(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/records/{type}/{id}',
      tags,
      security,
      summary: 'Delete a record',
      description: 'Records whose references cascade are deleted with it; a record referred to by a restricting reference is not deleted (409 RECORD_REFERENCED).',
      request: { params: z.object({ type: typeParam, id: idParam }) },
      responses: { 204: { description: 'Deleted' }, ...problemSchemas.update },
    }),
    async (c) => {
      const id = pathId(c);
      const { type: name } = c.req.valid('param');
      const expected = ifMatch(c);
      const scope = c.get('scope');
      scope.authorize('write');
      const current = (await scope.query<Row>(`select ${COLUMNS} from records r where r.tenant_id = $1 and r.type = $2 and r.id = $3 for update`, [scope.tenantId, name, id])).rows[0];
      if (!current) throw new HttpProblem('NOT_FOUND');
      if (expected !== null && expected !== current.version) throw new HttpProblem('VERSION_MISMATCH');
      scope.along('delete from records where tenant_id = $1 and id = $2', [scope.tenantId, id]);
      await recordChange(scope, { action: `record.${name}.deleted`, entityType: 'record', entityId: id, changes: { before: present(current) }, events: events(name, 'deleted'), payload: present(current) });
      return c.body(null, 204);
    },
  );
}
