import { randomBytes } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { ResourceDefinition } from '../resource.js';
import { id, timestamp, updatedSince } from '../schemas.js';

const url = z
  .string()
  .max(2000)
  .url()
  .refine((value) => /^https?:\/\//i.test(value), 'must be an http or https URL');
const eventType = z.string().regex(/^(\*|[a-z_]+\.[a-z_]+)$/, 'must look like project.created, or be *');

const schema = z.object({
  id,
  url: z.string(),
  description: z.string(),
  event_types: z.array(z.string()),
  enabled: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const webhooks: ResourceDefinition = {
  path: '/v1/webhooks',
  table: 'webhooks',
  entity: 'webhook',
  tag: 'Webhooks',
  schema,
  createdSchema: schema.extend({ secret: z.string().openapi({ description: 'Signing secret. Shown only in this response.' }) }),
  create: z.object({
    url,
    description: z.string().max(1000).optional(),
    event_types: z.array(eventType).min(1).max(50),
    secret: z.string().min(24).max(200).optional().openapi({ description: 'Generated when omitted' }),
    enabled: z.boolean().optional(),
  }),
  update: z.object({ url: url.optional(), description: z.string().max(1000).optional(), event_types: z.array(eventType).min(1).max(50).optional(), enabled: z.boolean().optional() }),
  filters: { enabled: { schema: z.enum(['true', 'false']), sql: (p) => `enabled = ${p}::boolean` }, updated_since: updatedSince },
  read: 'manage',
  write: 'manage',
  deletable: true,
  prepareCreate: (body) => {
    const secret = (body.secret as string | undefined) ?? `whsec_${randomBytes(24).toString('base64')}`;
    return { values: { ...body, secret }, extra: { secret } };
  },
};
