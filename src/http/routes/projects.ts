import { z } from '@hono/zod-openapi';
import { defineResource } from '../resource.js';
import { id, name, timestamp, updatedSince } from '../schemas.js';

const status = z.enum(['active', 'archived']);

export const projects = defineResource({
  path: '/v1/projects',
  table: 'projects',
  entity: 'project',
  tag: 'Projects',
  schema: z.object({
    id,
    name: z.string(),
    description: z.string(),
    status,
    created_by: id.nullable().openapi({ description: 'Member who created it' }),
    created_at: timestamp,
    updated_at: timestamp,
  }),
  create: z.object({ name: name(), description: z.string().max(10_000).optional(), status: status.optional() }),
  update: z.object({ name: name().optional(), description: z.string().max(10_000).optional(), status: status.optional() }),
  filters: { status: { schema: status, sql: (p) => `status = ${p}` }, updated_since: updatedSince },
  read: 'read',
  write: 'write',
  deletable: true,
});
