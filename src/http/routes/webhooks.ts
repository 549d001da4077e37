import { randomBytes } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { DestinationError, resolvePublicAddress } from '../../jobs/destination-guard.js';
import { HttpProblem } from '../problem.js';
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

/** Standard Webhooks secrets: "whsec_" and at least 24 bytes of base64. */
export const webhookSecret = z.string().regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'must be whsec_ followed by at least 24 bytes of base64');

export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/**
 * Refuses destinations that resolve to internal addresses (422), unless allowed by
 * configuration. A name that does not resolve yet is accepted: every delivery checks again.
 */
async function checkDestination(value: unknown, allowPrivate: boolean): Promise<void> {
  if (typeof value !== 'string') return;
  try {
    await resolvePublicAddress(new URL(value), { allowPrivate });
  } catch (error) {
    if (!(error instanceof DestinationError)) throw error;
    if (error.reason === 'unresolved') return;
    throw new HttpProblem(422, 'DESTINATION_NOT_ALLOWED', 'The webhook URL is not an allowed destination', undefined, [{ field: 'body.url', message: error.message }]);
  }
}

export const webhooks = ({ allowPrivateDestinations }: { allowPrivateDestinations: boolean }): ResourceDefinition => ({
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
    secret: webhookSecret.optional().openapi({ description: 'Generated when omitted' }),
    enabled: z.boolean().optional(),
  }),
  update: z.object({ url: url.optional(), description: z.string().max(1000).optional(), event_types: z.array(eventType).min(1).max(50).optional(), enabled: z.boolean().optional() }),
  filters: { enabled: { schema: z.enum(['true', 'false']), sql: (p) => `enabled = ${p}::boolean` }, updated_since: updatedSince },
  read: 'manage',
  write: 'manage',
  deletable: true,
  prepareCreate: async (body) => {
    await checkDestination(body.url, allowPrivateDestinations);
    const secret = (body.secret as string | undefined) ?? newWebhookSecret();
    return { values: { ...body, secret }, extra: { secret } };
  },
  prepareUpdate: async (body) => {
    await checkDestination(body.url, allowPrivateDestinations);
    return body;
  },
});
