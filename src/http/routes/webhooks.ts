import { z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { newWebhookSecret } from '../../webhooks/secret.js';
import { DestinationError, resolvePublicAddress, type Resolve } from '../../webhooks/destination-guard.js';
import type { AppEnv } from '../context-variables.js';
import { HttpProblem } from '../problem.js';
import { defineResource } from '../resource.js';
import { id, timestamp, updatedSince } from '../schemas.js';

const url = z
  .string()
  .max(2000)
  .url()
  .refine((value) => /^https?:\/\//i.test(value), 'must be an http or https URL');
const eventType = z
  .string()
  .regex(/^(\*|[a-z_]+\.[a-z_]+|record\.[a-z][a-z0-9_]{0,39}\.(created|updated|deleted))$/, 'must look like project.created or record.customer.created, or be *');

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


export interface DestinationCheckOptions {
  /** Let webhooks target loopback and private addresses (development and tests only). */
  allowPrivate: boolean;
  /** Longest wait for DNS; a name that does not answer in time is accepted like one that does not resolve yet. */
  timeoutMs: number;
  /** Name resolution (default: the system resolver). */
  resolve?: Resolve;
}

/**
 * Refuses webhook URLs that resolve to internal addresses (422), for POST /v1/webhooks and
 * PATCH /v1/webhooks/{id}. One of the tenant request's body checks, which run before its
 * transaction can open, so a slow DNS answer never holds a pooled connection. A name that
 * does not resolve yet is accepted: every delivery checks again.
 */
export function webhookDestinationCheck({ allowPrivate, timeoutMs, resolve }: DestinationCheckOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const method = c.req.method;
    if ((method === 'POST' && c.req.path === '/v1/webhooks') || (method === 'PATCH' && /^\/v1\/webhooks\/[^/]+$/.test(c.req.path))) {
      const body: unknown = await c.req.json().catch(() => null); // malformed bodies fail validation later
      const value = body && typeof body === 'object' ? (body as { url?: unknown }).url : undefined;
      // Anything but an http(s) URL is left to the route's validation (400).
      if (typeof value === 'string' && /^https?:\/\//i.test(value) && URL.canParse(value)) {
        try {
          await resolvePublicAddress(new URL(value), { allowPrivate, timeoutMs, resolve });
        } catch (error) {
          if (!(error instanceof DestinationError)) throw error;
          if (error.reason === 'blocked') {
            throw new HttpProblem('DESTINATION_NOT_ALLOWED', undefined, [{ field: 'body.url', message: error.message }]);
          }
        }
      }
    }
    await next();
  };
}

export const webhooks = defineResource({
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
  prepareCreate: (body) => {
    const secret = body.secret ?? newWebhookSecret();
    return { values: { ...body, secret }, extra: { secret } };
  },
});
