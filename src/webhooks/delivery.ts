import { type Kernel, RowguardError } from '@rowguard/kernel';
import { postJson } from './post-json.js';
import { webhookSignature } from './signature.js';

export interface DeliveryJob {
  tenantId: string;
  deliveryId: string;
}

export interface DeliverySettings {
  /** Deadline of one attempt as a whole: DNS, connect, send, response headers and body. */
  timeoutMs: number;
  allowPrivate: boolean;
  /** Attempts before a delivery is marked failed. */
  maxAttempts: number;
}

interface Delivery {
  event_id: string;
  event_type: string;
  payload: unknown;
  status: string;
  attempts: number;
  url: string;
  enabled: boolean;
  secrets: string[];
  created_at: Date;
}

/** Thrown to have the job queue retry later, with backoff. */
export class DeliveryFailed extends RowguardError {
  constructor(message: string) {
    super('DELIVERY_FAILED', message);
    this.name = 'DeliveryFailed';
  }
}

/**
 * One delivery attempt, inside the tenant's own scope: read the delivery and its endpoint,
 * POST the signed event, record the attempt. No transaction is held open during the POST.
 * The event id is the webhook-id of every attempt, so receivers can drop duplicates
 * (delivery is at least once).
 */
export async function deliverWebhook(kernel: Kernel, { tenantId, deliveryId }: DeliveryJob, settings: DeliverySettings): Promise<'delivered' | 'failed' | 'skipped'> {
  const { rows } = await kernel.tenantQuery<Delivery>(
    tenantId,
    `select d.event_id, d.event_type, d.payload, d.status, d.attempts, w.url, w.enabled, d.created_at,
            array_remove(array[w.secret, case when w.previous_secret_expires_at > now() then w.previous_secret end], null) as secrets
     from webhook_deliveries d join webhooks w on w.tenant_id = d.tenant_id and w.id = d.webhook_id
     where d.tenant_id = $1 and d.id = $2`,
    [tenantId, deliveryId],
  );
  const delivery = rows[0];
  if (!delivery || delivery.status !== 'pending') return 'skipped';

  const attempt = delivery.attempts + 1;
  const timestamp = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ type: delivery.event_type, timestamp: delivery.created_at.toISOString(), data: delivery.payload });
  const started = performance.now();
  let statusCode: number | null = null;
  let error: string | null = null;
  if (!delivery.enabled) {
    error = 'the endpoint is disabled';
  } else {
    try {
      statusCode = await postJson(delivery.url, body, {
        'content-type': 'application/json',
        'user-agent': 'Rowguard-Webhooks/1',
        'webhook-id': delivery.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': webhookSignature(delivery.secrets, delivery.event_id, timestamp, body),
      }, settings);
      if (statusCode < 200 || statusCode >= 300) error = `the endpoint answered ${statusCode}`;
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
  }
  const latency = Math.round(performance.now() - started);
  const outcome = error === null ? 'delivered' : attempt >= settings.maxAttempts || !delivery.enabled ? 'failed' : 'pending';
  await kernel.withTenant(tenantId, async (tx) => {
    await tx.query(
      `insert into webhook_attempts (tenant_id, delivery_id, attempt, status_code, latency_ms, error) values ($1, $2, $3, $4, $5, $6)
       on conflict (tenant_id, delivery_id, attempt) do nothing`,
      [tenantId, deliveryId, attempt, statusCode, latency, error],
    );
    // now() as a value, not in a CASE: Citus evaluates it before sending the update to the
    // worker, and refuses it inside CASE.
    await tx.query(
      `update webhook_deliveries set attempts = $3, status = $4, last_status_code = $5, last_error = $6,
              delivered_at = ${outcome === 'delivered' ? 'now()' : 'null'}
       where tenant_id = $1 and id = $2`,
      [tenantId, deliveryId, attempt, outcome, statusCode, error],
    );
  });
  if (outcome === 'pending') throw new DeliveryFailed(`attempt ${attempt} failed: ${error}`);
  return outcome;
}
