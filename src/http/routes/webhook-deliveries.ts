import { randomUUID } from 'node:crypto';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { recordChange } from '../record-change.js';
import type { AppEnv } from '../context-variables.js';
import { keyset, pageOf, pageParams } from '../pagination.js';
import { pathId } from '../path-id.js';
import { HttpProblem, notFound } from '../problem.js';
import { id, problemSchemas, timestamp } from '../schemas.js';
import type { RequestScope } from '../request-scope.js';
import { newWebhookSecret } from '../../webhooks/secret.js';

const Attempt = z.object({ attempt: z.number().int(), status_code: z.number().int().nullable(), latency_ms: z.number().int(), error: z.string().nullable(), created_at: timestamp });
const Delivery = z
  .object({
    id,
    event_id: id.openapi({ description: 'The webhook-id header of every attempt' }),
    event_type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.array(Attempt),
    delivered_at: timestamp.nullable(),
    created_at: timestamp,
  })
  .openapi('WebhookDelivery');

const tags = ['Webhooks'];
const security = [{ bearer: [] }];
const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
const param = (name: string) => z.string().openapi({ param: { name, in: 'path' }, format: 'uuid' });

async function endpoint(scope: RequestScope, webhookId: string): Promise<{ enabled: boolean }> {
  const { rows } = await scope.query<{ enabled: boolean }>('select enabled from webhooks where tenant_id = $1 and id = $2', [scope.tenantId, webhookId]);
  if (!rows[0]) throw notFound();
  return rows[0];
}

/** Deliveries of an endpoint with every attempt, a test ping, a retry by hand, and secret rotation. */
export function registerWebhookDeliveryRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/webhooks/{id}/deliveries',
      tags,
      security,
      summary: 'Deliveries to this endpoint, newest first, with every attempt',
      request: {
        params: z.object({ id: param('id') }),
        query: z.object({ ...pageParams, status: z.enum(['pending', 'delivered', 'failed']).optional() }),
      },
      responses: { 200: { description: 'A page of deliveries', content: json(z.object({ data: z.array(Delivery), next_cursor: z.string().nullable() })) }, ...problemSchemas.readOne },
    }),
    async (c) => {
      const webhookId = pathId(c);
      const query = c.req.valid('query');
      const scope = c.get('scope');
      scope.authorize('manage');
      await endpoint(scope, webhookId);
      const values: unknown[] = [scope.tenantId, webhookId];
      const conditions = ['d.tenant_id = $1', 'd.webhook_id = $2'];
      if (query.status) {
        values.push(query.status);
        conditions.push(`d.status = $${values.length}`);
      }
      const page = keyset(query, values, 'd.');
      if (page.after) conditions.push(page.after);
      const { rows } = await scope.last(
        `select d.id, d.event_id, d.event_type, d.status, d.delivered_at, d.created_at, ${page.column},
                coalesce((select json_agg(json_build_object('attempt', a.attempt, 'status_code', a.status_code, 'latency_ms', a.latency_ms,
                                                            'error', a.error, 'created_at', a.created_at) order by a.attempt)
                          from webhook_attempts a where a.tenant_id = d.tenant_id and a.delivery_id = d.id), '[]') as attempts
         from webhook_deliveries d where ${conditions.join(' and ')}
         ${page.orderAndLimit}`,
        values,
      );
      return c.json(pageOf(rows, query.limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/test',
      tags,
      security,
      summary: 'Send a webhook.ping event to this endpoint only',
      request: { params: z.object({ id: param('id') }) },
      responses: { 202: { description: 'Queued', content: json(z.object({ event_id: id })) }, ...problemSchemas.update },
    }),
    async (c) => {
      const webhookId = pathId(c);
      const scope = c.get('scope');
      scope.authorize('manage');
      if (!(await endpoint(scope, webhookId)).enabled) throw new HttpProblem('ENDPOINT_DISABLED');
      // The app role may write the outbox but not read it, so the id is made here.
      const eventId = randomUUID();
      await recordChange(scope, {
        action: 'webhook.tested',
        entityType: 'webhook',
        entityId: webhookId,
        changes: {},
        events: ['webhook.ping'],
        payload: { webhook_id: webhookId, message: 'ping' },
        target: { webhookId, eventId },
      });
      return c.json({ event_id: eventId }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/deliveries/{deliveryId}/retry',
      tags,
      security,
      summary: 'Deliver a failed delivery once more',
      request: { params: z.object({ id: param('id'), deliveryId: param('deliveryId') }) },
      responses: { 202: { description: 'Queued again' }, ...problemSchemas.update },
    }),
    async (c) => {
      const webhookId = pathId(c);
      const deliveryId = pathId(c, 'deliveryId');
      const scope = c.get('scope');
      scope.authorize('manage');
      const { rows } = await scope.query<{ status: string }>('select status from webhook_deliveries where tenant_id = $1 and id = $2 and webhook_id = $3 for update', [scope.tenantId, deliveryId, webhookId]);
      if (!rows[0]) throw notFound();
      if (rows[0].status !== 'failed') throw new HttpProblem('NOT_FAILED', `Only failed deliveries can be retried; this one is ${rows[0].status}`);
      scope.along(`update webhook_deliveries set status = 'pending', enqueued = false where tenant_id = $1 and id = $2`, [scope.tenantId, deliveryId]);
      await recordChange(scope, { action: 'webhook_delivery.retried', entityType: 'webhook_delivery', entityId: deliveryId, changes: {} });
      return c.body(null, 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/webhooks/{id}/rotate-secret',
      tags,
      security,
      summary: 'Replace the signing secret; the previous one keeps signing for 24 hours',
      request: { params: z.object({ id: param('id') }) },
      responses: { 200: { description: 'The new secret, shown once', content: json(z.object({ secret: z.string(), previous_secret_expires_at: timestamp })) }, ...problemSchemas.update },
    }),
    async (c) => {
      const webhookId = pathId(c);
      const secret = newWebhookSecret();
      const scope = c.get('scope');
      scope.authorize('manage');
      const { rows } = await scope.query<{ previous_secret_expires_at: string }>(
        `update webhooks set previous_secret = secret, previous_secret_expires_at = now() + interval '24 hours', secret = $2
         where tenant_id = $1 and id = $3 returning previous_secret_expires_at`,
        [scope.tenantId, secret, webhookId],
      );
      const rotated = rows[0];
      if (!rotated) throw notFound();
      await recordChange(scope, { action: 'webhook.secret_rotated', entityType: 'webhook', entityId: webhookId, changes: {} });
      c.set('oneTimeSecret', true);
      return c.json({ secret, previous_secret_expires_at: rotated.previous_secret_expires_at }, 200);
    },
  );
}
