import { z } from '@hono/zod-openapi';
import { defineResource } from '../resource.js';
import { id, name, timestamp, updatedSince } from '../schemas.js';

export const documents = defineResource({
  path: '/v1/documents',
  table: 'documents',
  entity: 'document',
  tag: 'Documents',
  schema: z.object({
    id,
    project_id: id.nullable(),
    title: z.string(),
    body: z.string(),
    created_by: id.nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
  create: z.object({ project_id: id.nullable().optional(), title: name(500), body: z.string().max(200_000).optional() }),
  update: z.object({ project_id: id.nullable().optional(), title: name(500).optional(), body: z.string().max(200_000).optional() }),
  filters: { project_id: { schema: id, sql: (p) => `project_id = ${p}::uuid` }, updated_since: updatedSince },
  read: 'read',
  write: 'write',
  deletable: true,
});
