import { createRoute, z, type OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Permission } from './auth/principal.js';
import { diff, recordChange } from './record-change.js';
import { ifMatch } from './if-match.js';
import type { AppEnv } from './context-variables.js';
import { pageOf, pageParams } from './pagination.js';
import { ResourceSql } from './resource-sql.js';
import { pathId } from './path-id.js';
import { HttpProblem, notFound } from './problem.js';
import { problemSchemas } from './schemas.js';
import type { RequestScope } from './request-scope.js';

type Row = Record<string, unknown>;
type ZodObject = z.ZodObject<z.ZodRawShape>;

/** A list filter: its query parameter schema and the SQL condition for one bind parameter. */
export interface Filter {
  schema: z.ZodType;
  sql: (param: string) => string;
}

/**
 * One tenant table as a REST resource. Generic over its zod schemas, so that the hooks get
 * the validated body (`z.infer` of create/update) and the stored row (`z.infer` of schema)
 * with their types: write one with `defineResource({ … })`.
 */
export interface ResourceDefinition<S extends ZodObject = ZodObject, C extends ZodObject = ZodObject, U extends ZodObject = ZodObject> {
  /** URL path, e.g. "/projects". */
  path: string;
  table: string;
  /** Singular name for the audit log and OpenAPI, e.g. "project". */
  entity: string;
  tag: string;
  /** Public representation; its keys are the columns read. */
  schema: S;
  /** Body of POST; omit for read-only resources. */
  create?: C;
  /** Body of PATCH (every field optional); omit when objects cannot change. */
  update?: U;
  filters?: Record<string, Filter>;
  read: Permission;
  write: Permission;
  /** Allow DELETE. */
  deletable?: boolean;
  /**
   * Column values to insert, from the validated body, and extra fields for the creation
   * response only: a secret shown once, which is why such a response is never stored for an
   * Idempotency-Key replay. May throw HttpProblem.
   */
  prepareCreate?: (body: z.infer<C>, scope: RequestScope) => Promise<{ values: Row; extra?: Row }> | { values: Row; extra?: Row };
  /** Column values to update, from the validated body and the current row; may throw. */
  prepareUpdate?: (body: z.infer<U>, current: z.infer<S>, scope: RequestScope) => Promise<Row> | Row;
  /** Checks before a delete; may throw. */
  beforeDelete?: (current: z.infer<S>, scope: RequestScope) => Promise<void> | void;
  /** Replaces the DELETE statement (e.g. API keys are revoked, not removed): $1 the tenant, $2 the id. */
  deleteSql?: string;
  /** Schema of the creation response when it differs (carries the extra fields). */
  createdSchema?: ZodObject;
  /** The table has a version column (ETag, If-Match); default true. */
  versioned?: boolean;
  /** Outbox event types for a write; default ["<entity>.<action>"]. */
  events?: (action: 'created' | 'updated' | 'deleted', before: z.infer<S> | null, after: z.infer<S> | null) => string[];
}

/** A resource with its hooks typed by its schemas, as the list of resources holds it. */
export const defineResource = <S extends ZodObject, C extends ZodObject = ZodObject, U extends ZodObject = ZodObject>(definition: ResourceDefinition<S, C, U>) =>
  definition as unknown as ResourceDefinition;

const idParam = z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }) });
const security = [{ bearer: [] }];


const etag = (row: Row) => (row.version === undefined ? undefined : `"${row.version}"`);

/**
 * Registers list, get, create, update and delete routes for one tenant table. Every handler
 * runs in the request's one tenant transaction (`c.get('scope')`), authorizing first so that the
 * database's principal check demands the route's permission; the tenant id is written from
 * the credential, never taken from the request; every write appends its audit entry and
 * events in the same transaction, as its last statement.
 */
export function registerResource(app: OpenAPIHono<AppEnv>, def: ResourceDefinition): void {
  const fields = Object.keys(def.schema.shape);
  const sql = new ResourceSql(def.table, fields, def.versioned ?? true);
  const name = def.entity[0]!.toUpperCase() + def.entity.slice(1);
  const schema = def.schema.openapi(name);
  // A loop, not Object.fromEntries(map): it runs for every row of every response.
  const present = (row: Row) => {
    const shown: Row = {};
    for (const field of fields) shown[field] = row[field];
    return shown;
  };
  const tags = [def.tag];
  const events = def.events ?? ((action) => [`${def.entity}.${action}`]);
  const json = (s: z.ZodType) => ({ 'application/json': { schema: s } });
  const errors = problemSchemas;

  // The by-id routes read their id with pathId (anything but a UUID is 404, as another tenant's
  // id is): the parameter is documented, not parsed again by zod on every request.
  type WithoutParams<R extends RouteConfig> = Omit<R, 'request'> & { hide: true; request: Omit<NonNullable<R['request']>, 'params'> };
  const idInPath = <R extends RouteConfig>(route: R): WithoutParams<R> => {
    app.openAPIRegistry.registerPath(route);
    const { params: _documented, ...request } = route.request ?? {};
    return { ...route, hide: true, request } as WithoutParams<R>;
  };

  // The read is the transaction's last statement: with the principal check ahead of it and the
  // COMMIT behind it, the whole request is one round trip.
  const readRow = async (scope: RequestScope, id: string): Promise<Row> => {
    const { text, values } = sql.byId(scope.tenantId, id);
    const { rows } = await scope.last(text, values);
    if (!rows[0]) throw notFound();
    return rows[0];
  };

  // The row to change, locked until commit, and at the version the client saw (If-Match).
  const lockForChange = async (scope: RequestScope, id: string, expected: number | null): Promise<Row> => {
    const { text, values } = sql.byId(scope.tenantId, id, { forUpdate: true });
    const current = (await scope.query(text, values)).rows[0];
    if (!current) throw notFound();
    if (expected !== null && current.version !== expected) throw new HttpProblem('VERSION_MISMATCH');
    return current;
  };

  // List: newest first, cursor pagination, filters.
  const filterShape = Object.fromEntries(Object.entries(def.filters ?? {}).map(([key, f]) => [key, f.schema.optional()]));
  const listQuery = z.object({
    ...pageParams,
    ...filterShape,
  });
  app.openapi(
    createRoute({
      method: 'get',
      path: def.path,
      tags,
      security,
      summary: `List ${def.tag.toLowerCase()}`,
      request: { query: listQuery },
      responses: {
        200: { description: 'A page, newest first', content: json(z.object({ data: z.array(schema), next_cursor: z.string().nullable() })) },
        ...errors.read,
      },
    }),
    async (c) => {
      const query = c.req.valid('query') as Record<string, unknown> & { limit: number; cursor?: string };
      const scope = c.get('scope');
      scope.authorize(def.read);
      const conditions = Object.entries(def.filters ?? {}).flatMap(([key, filter]) => (query[key] === undefined ? [] : [{ sql: filter.sql, value: query[key] }]));
      const { text, values } = sql.list(scope.tenantId, conditions, query);
      return c.json(pageOf((await scope.last(text, values)).rows, query.limit, undefined, present), 200);
    },
  );

  app.openapi(
    idInPath(createRoute({
      method: 'get',
      path: `${def.path}/{id}`,
      tags,
      security,
      summary: `Get a ${def.entity}`,
      request: { params: idParam },
      responses: { 200: { description: `The ${def.entity}; ETag carries its version`, content: json(schema) }, ...errors.readOne },
    })),
    async (c) => {
      const id = pathId(c);
      c.get('scope').authorize(def.read);
      const row = await readRow(c.get('scope'), id);
      c.header('ETag', etag(row));
      return c.json(present(row), 200);
    },
  );

  if (def.create) {
    const createdSchema = (def.createdSchema ?? def.schema).openapi(def.createdSchema ? `${name}Created` : name);
    app.openapi(
      createRoute({
        method: 'post',
        path: def.path,
        tags,
        security,
        summary: `Create a ${def.entity}`,
        request: { body: { content: json(def.create.strict().openapi(`${name}Create`)), required: true } },
        responses: { 201: { description: 'Created', content: json(createdSchema) }, ...errors.write },
      }),
      async (c) => {
        const input = c.req.valid('json') as Row;
        const scope = c.get('scope');
        scope.authorize(def.write);
        const { values, extra = {} } = def.prepareCreate ? await def.prepareCreate(input, scope) : { values: input };
        const insert = sql.insert(scope.tenantId, values);
        const row = (await scope.query(insert.text, insert.values)).rows[0]!;
        await recordChange(scope, {
          action: `${def.entity}.created`,
          entityType: def.entity,
          entityId: row.id as string,
          changes: present(row),
          events: events('created', null, row),
          payload: present(row),
        });
        c.header('ETag', etag(row));
        c.header('Location', `${c.req.path}/${row.id}`);
        if (Object.keys(extra).length > 0) c.set('oneTimeSecret', true);
        return c.json({ ...present(row), ...extra }, 201);
      },
    );
  }

  if (def.update) {
    app.openapi(
      idInPath(createRoute({
        method: 'patch',
        path: `${def.path}/{id}`,
        tags,
        security,
        summary: `Update a ${def.entity}`,
        description: 'Send If-Match with the ETag from a read to update only the version you saw (412 otherwise).',
        request: { params: idParam, body: { content: json(def.update.strict().openapi(`${name}Update`)), required: true } },
        responses: { 200: { description: 'Updated', content: json(schema) }, ...errors.update },
      })),
      async (c) => {
        const id = pathId(c);
        const expected = ifMatch(c);
        const input = c.req.valid('json') as Row;
        const scope = c.get('scope');
        scope.authorize(def.write);
        const current = await lockForChange(scope, id, expected);
        const values = def.prepareUpdate ? await def.prepareUpdate(input, current, scope) : input;
        if (Object.keys(values).length === 0) {
          c.header('ETag', etag(current));
          return c.json(present(current), 200);
        }
        const update = sql.update(scope.tenantId, id, values);
        const row = (await scope.query(update.text, update.values)).rows[0]!;
        await recordChange(scope, {
          action: `${def.entity}.updated`,
          entityType: def.entity,
          entityId: id,
          changes: diff(current, row, fields),
          events: events('updated', current, row),
          payload: present(row),
        });
        c.header('ETag', etag(row));
        return c.json(present(row), 200);
      },
    );
  }

  if (def.deletable) {
    app.openapi(
      idInPath(createRoute({
        method: 'delete',
        path: `${def.path}/{id}`,
        tags,
        security,
        summary: def.deleteSql ? `Revoke a ${def.entity}` : `Delete a ${def.entity}`,
        request: { params: idParam },
        responses: { 204: { description: def.deleteSql ? 'Revoked' : 'Deleted' }, ...errors.update },
      })),
      async (c) => {
        const id = pathId(c);
        const expected = ifMatch(c);
        const scope = c.get('scope');
        scope.authorize(def.write);
        const current = await lockForChange(scope, id, expected);
        await def.beforeDelete?.(current, scope);
        // The delete and its record need nothing from each other: one round trip.
        const remove = sql.delete(scope.tenantId, id, def.deleteSql);
        scope.along(remove.text, remove.values);
        await recordChange(scope, {
          action: `${def.entity}.${def.deleteSql ? 'revoked' : 'deleted'}`,
          entityType: def.entity,
          entityId: id,
          changes: { before: present(current) },
          events: events('deleted', current, null),
          payload: present(current),
        });
        return c.body(null, 204);
      },
    );
  }
}
