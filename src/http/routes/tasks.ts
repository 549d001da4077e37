import { z } from '@hono/zod-openapi';
import { defineResource } from '../resource.js';
import { date, id, name, timestamp, updatedSince } from '../schemas.js';

const status = z.enum(['todo', 'in_progress', 'done']);

export const tasks = defineResource({
  path: '/v1/tasks',
  table: 'tasks',
  entity: 'task',
  tag: 'Tasks',
  schema: z.object({
    id,
    project_id: id,
    title: z.string(),
    description: z.string(),
    status,
    assignee_id: id.nullable().openapi({ description: 'Member the task is assigned to' }),
    due_date: date.nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
  create: z.object({
    project_id: id,
    title: name(500),
    description: z.string().max(10_000).optional(),
    status: status.optional(),
    assignee_id: id.nullable().optional(),
    due_date: date.nullable().optional(),
  }),
  update: z.object({
    project_id: id.optional(),
    title: name(500).optional(),
    description: z.string().max(10_000).optional(),
    status: status.optional(),
    assignee_id: id.nullable().optional(),
    due_date: date.nullable().optional(),
  }),
  filters: {
    status: { schema: status, sql: (p) => `status = ${p}` },
    project_id: { schema: id, sql: (p) => `project_id = ${p}::uuid` },
    assignee_id: { schema: id, sql: (p) => `assignee_id = ${p}::uuid` },
    updated_since: updatedSince,
  },
  read: 'read',
  write: 'write',
  deletable: true,
});
