import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './context-variables.js';
import { problemSchemas } from './schemas.js';
import { effectiveSchema, fieldSchema } from '../records/record-schema.js';
import { TYPE_COLUMNS, type StoredRecordType } from '../records/record-type-store.js';

type Document = ReturnType<OpenAPIHono['getOpenAPI31Document']>;
type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const problem = ref('Problem');
const problems = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { description: 'Problem', content: { 'application/problem+json': { schema: problem } } }]));

// The tenant's own schema sits under components: its "#…" references (the only ones a type may
// have) are made to point there.
function rebase(node: unknown, base: string): unknown {
  if (Array.isArray(node)) return node.map((item) => rebase(item, base));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, key === '$ref' && typeof value === 'string' && value.startsWith('#') ? `${base}${value.slice(1)}` : rebase(value, base)]));
}

/** The paths and schemas of one record type, typed by its JSON Schema and declared fields. */
function typeDocument(type: StoredRecordType): { paths: Json; schemas: Json } {
  const name = type.name;
  const title = name.replace(/(^|_)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
  const data = `${title}Data`;
  const record = `${title}Record`;
  const schemas: Json = {
    [data]: rebase(effectiveSchema(type), `#/components/schemas/${data}`),
    [record]: { allOf: [ref('Record'), { type: 'object', properties: { type: { const: name }, data: ref(data) } }] },
  };
  const json = (schema: Json) => ({ 'application/json': { schema } });
  const tags = [`Records: ${name}`];
  const security = [{ bearer: [] }];
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const filters = type.fields.map((f) => ({ name: `filter[${f.name}]`, in: 'query', required: false, description: `Records whose ${f.name} equals this${f.case_insensitive ? ' (regardless of case)' : ''}`, schema: fieldSchema(f) }));
  const paths: Json = {
    [`/v1/records/${name}`]: {
      get: {
        tags,
        security,
        summary: `List ${name} records, newest first`,
        parameters: [
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
          ...filters,
        ],
        responses: { 200: { description: 'A page', content: json({ type: 'object', properties: { data: { type: 'array', items: ref(record) }, next_cursor: { type: ['string', 'null'] } } }) }, ...problems(400, 401, 403, 404) },
      },
      post: {
        tags,
        security,
        summary: `Create a ${name} record`,
        requestBody: { required: true, content: json({ type: 'object', properties: { data: ref(data) }, required: ['data'], additionalProperties: false }) },
        responses: { 201: { description: 'Created', content: json(ref(record)) }, ...problems(400, 401, 403, 404, 409, 413, 415, 422) },
      },
    },
    [`/v1/records/${name}/{id}`]: {
      get: { tags, security, summary: `Get a ${name} record`, parameters: [id], responses: { 200: { description: 'The record; ETag carries its version', content: json(ref(record)) }, ...problems(401, 403, 404) } },
      patch: {
        tags,
        security,
        summary: `Change a ${name} record (JSON merge patch of its data)`,
        parameters: [id],
        requestBody: { required: true, content: json({ type: 'object', properties: { data: { type: 'object' } }, required: ['data'], additionalProperties: false }) },
        responses: { 200: { description: 'Changed', content: json(ref(record)) }, ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422) },
      },
      delete: { tags, security, summary: `Delete a ${name} record`, parameters: [id], responses: { 204: { description: 'Deleted' }, ...problems(401, 403, 404, 409, 412) } },
    },
  };
  return { paths, schemas };
}

/**
 * GET /v1/openapi.json: the API as the credential's tenant sees it, the service's document with
 * a typed path for each of the tenant's record types (its JSON Schema and declared fields), so
 * that a tenant can generate a client for its own records.
 */
export function registerTenantOpenApi(app: OpenAPIHono<AppEnv>, info: Parameters<OpenAPIHono['getOpenAPI31Document']>[0]): void {
  let base: Document | undefined;
  const route = createRoute({
    method: 'get',
    path: '/v1/openapi.json',
    tags: ['Record types'],
    security: [{ bearer: [] }],
    summary: 'This API as the tenant sees it, with a typed path for each of its record types',
    responses: { 200: { description: 'An OpenAPI 3.1 document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } }, ...problemSchemas.read },
  });
  app.openapi(route, async (c) => {
    const scope = c.get('scope');
    scope.authorize('read');
    const { rows } = await scope.last<StoredRecordType>(`select ${TYPE_COLUMNS} from record_types t where t.tenant_id = $1 order by t.name limit 1000`, [scope.tenantId]);
    base ??= app.getOpenAPI31Document(info);
    const document = structuredClone(base) as Document & { paths: Json; components: { schemas: Json } };
    document.info = { ...document.info, description: `${document.info.description ?? ''} This document is the tenant's own: it includes its record types.`.trim() };
    for (const type of rows) {
      const { paths, schemas } = typeDocument(type);
      Object.assign(document.paths, paths);
      Object.assign(document.components.schemas, schemas);
    }
    return c.json(document as unknown as Record<string, unknown>, 200);
  });
}
