import { z } from '@hono/zod-openapi';
import { defineResource } from '../resource.js';
import { id, timestamp } from '../schemas.js';

/** Read-only: entries are written by the API itself, in the transaction of each write. */
export const auditLog = defineResource({
  path: '/v1/audit-log',
  table: 'audit_log',
  entity: 'audit_entry',
  tag: 'Audit log',
  schema: z.object({
    id,
    actor: z.string().openapi({ description: 'user:<sub>, api_key:<id> or admin' }),
    action: z.string().openapi({ example: 'project.created' }),
    entity_type: z.string(),
    entity_id: id.nullable(),
    changes: z.record(z.string(), z.unknown()),
    request_id: z.string().nullable(),
    created_at: timestamp,
  }),
  filters: {
    entity_type: { schema: z.string().max(64), sql: (p) => `entity_type = ${p}` },
    entity_id: { schema: id, sql: (p) => `entity_id = ${p}::uuid` },
    action: { schema: z.string().max(64), sql: (p) => `action = ${p}` },
  },
  read: 'manage',
  write: 'manage',
  versioned: false,
});
