import { z } from '@hono/zod-openapi';
import { HttpProblem } from '../problem.js';
import { defineResource } from '../resource.js';
import { id, timestamp, updatedSince } from '../schemas.js';

const body = z.string().trim().min(1).max(10_000);

export const comments = defineResource({
  path: '/v1/comments',
  table: 'comments',
  entity: 'comment',
  tag: 'Comments',
  schema: z.object({
    id,
    task_id: id.nullable(),
    document_id: id.nullable(),
    author_id: id.nullable(),
    body: z.string(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
  create: z.object({ task_id: id.optional(), document_id: id.optional(), body }).openapi({ description: 'Exactly one of task_id and document_id' }),
  update: z.object({ body: body.optional() }),
  filters: {
    task_id: { schema: id, sql: (p) => `task_id = ${p}::uuid` },
    document_id: { schema: id, sql: (p) => `document_id = ${p}::uuid` },
    updated_since: updatedSince,
  },
  read: 'read',
  write: 'write',
  deletable: true,
  // author_id is the entered member, filled by the database (migration 0014).
  prepareCreate: (input) => {
    if ((input.task_id === undefined) === (input.document_id === undefined)) {
      throw new HttpProblem('VALIDATION_FAILED', undefined, [
        { field: 'body.task_id', message: 'give exactly one of task_id and document_id' },
      ]);
    }
    return { values: input };
  },
});
