import pg from 'pg';
import type { Logger } from 'pino';
import type { Kernel } from '@rowguard/kernel';
import { deliverWebhook, DeliveryFailed, type DeliveryJob, type DeliverySettings } from '../webhooks/delivery.js';
import { startDispatcher } from './job-dispatcher.js';
import { pruneDeliveries, purgeIdempotencyKeys, repairMovedShards } from './maintenance.js';
import { DELIVERY_QUEUE, relayOutbox } from './outbox-relay.js';
import { createQueue } from './queue.js';
import { syncRecordViews } from '../records/record-views.js';

/** Events waiting on an endpoint being changed or deleted are relayed again this soon. */
const RELAY_RETRY_MS = 250;

export interface WorkerOptions {
  kernel: Kernel;
  /** Owner pool: the lock that serializes creating the queues, and the shard policy repair on Citus. */
  ownerPool: pg.Pool;
  ownerUrl: string;
  log: Logger;
  delivery: DeliverySettings;
  /** Base retry delay in seconds; doubles each attempt, with jitter. */
  retryDelaySeconds: number;
  deliveryRetentionDays: number;
  /** How often expired jobs are retried (a worker died mid-delivery). */
  maintenanceIntervalSeconds?: number;
  /** How long an idle worker waits before asking the queue again (default 2). */
  pollingIntervalSeconds?: number;
  /** A running delivery job is presumed dead this long after its timeout (and retried). */
  expireGraceSeconds?: number;
  /** Deliveries in flight at once in this process (default 32). */
  deliveryConcurrency?: number;
  /**
   * Deliveries of one tenant in flight at once in this process (default 4): one tenant's
   * backlog or slow endpoints leave the other slots to the other tenants.
   */
  deliveryConcurrencyPerTenant?: number;
}

export interface Worker {
  /** Runs the relay now (it also runs on every outbox NOTIFY and every 5 s). */
  relay(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Runs `fn` while holding a session advisory lock shared by every Rowguard process on the
 * database. pg-boss creates a queue's partition with DDL on its shared job table, and two
 * processes creating queues at the same moment deadlock; one at a time, the later ones find
 * the queues there and do nothing.
 */
async function serialized(ownerPool: pg.Pool, fn: () => Promise<void>): Promise<void> {
  const client = await ownerPool.connect();
  try {
    await client.query(`select pg_advisory_lock(hashtext('rowguard.queue-setup'))`);
    try {
      await fn();
    } finally {
      await client.query(`select pg_advisory_unlock(hashtext('rowguard.queue-setup'))`);
    }
  } finally {
    client.release();
  }
}

/**
 * Background work in system mode: the outbox relay, webhook delivery and the scheduled
 * maintenance jobs, all on pg-boss. Several workers may run at once: the relay claims each
 * tenant's events with SKIP LOCKED and the queue gives each delivery job to one worker at a time.
 */
export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { kernel, ownerPool, ownerUrl, log, delivery, retryDelaySeconds, deliveryRetentionDays } = options;
  const boss = createQueue({ connectionString: ownerUrl, maintenanceIntervalSeconds: options.maintenanceIntervalSeconds });
  let stopping = false;
  boss.on('error', (error) => log[stopping ? 'debug' : 'error']({ err: error }, 'job queue error'));
  await boss.start();

  const scheduled = [
    ['purge-idempotency-keys', '*/10 * * * *', () => purgeIdempotencyKeys(kernel)],
    ['prune-deliveries', '17 3 * * *', () => pruneDeliveries(kernel, deliveryRetentionDays)],
    ['repair-shard-policies', '* * * * *', () => repairMovedShards(ownerPool)],
    // Also run when the relay sees a record type change (below): this catches what it missed.
    ['sync-record-views', '* * * * *', () => syncRecordViews({ kernel, ownerPool })],
  ] as const;
  await serialized(ownerPool, async () => {
    await boss.createQueue(DELIVERY_QUEUE, {
      name: DELIVERY_QUEUE,
      // At most one queued and one running job per delivery (singletonKey = delivery id).
      policy: 'stately',
      retryLimit: delivery.maxAttempts * 2,
      retryDelay: retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: Math.ceil(delivery.timeoutMs / 1000) + (options.expireGraceSeconds ?? 30),
    });
    for (const [name, cron] of scheduled) {
      await boss.createQueue(name, { name, policy: 'singleton' });
      await boss.schedule(name, cron);
    }
  });
  const pollingIntervalSeconds = options.pollingIntervalSeconds ?? 2;
  const deliveries = startDispatcher<DeliveryJob>({
    boss,
    queue: DELIVERY_QUEUE,
    concurrency: options.deliveryConcurrency ?? 32,
    perTenant: options.deliveryConcurrencyPerTenant ?? 4,
    tenantOf: (job) => job.tenantId,
    pollingIntervalMs: pollingIntervalSeconds * 1000,
    onError: (error, context) => log[stopping ? 'debug' : 'error']({ err: error }, `webhook delivery: ${context}`),
    run: async ({ data }) => {
      try {
        const outcome = await deliverWebhook(kernel, data, delivery);
        log.info({ delivery: data.deliveryId, tenant: data.tenantId, outcome }, 'webhook delivery');
      } catch (error) {
        if (!(error instanceof DeliveryFailed)) log.warn({ err: error, delivery: data.deliveryId }, 'webhook delivery errored');
        throw error; // retried by the queue, with exponential backoff and jitter
      }
    },
  });
  const polling = { pollingIntervalSeconds };

  for (const [name, , run] of scheduled) {
    await boss.work(name, polling, async () => {
      const rows = await run();
      // Quiet when there was nothing to do: the shard policy repair runs every minute.
      log[rows > 0 ? 'info' : 'debug']({ job: name, rows }, 'scheduled job');
    });
  }

  // The relay runs one at a time per process; a NOTIFY during a run, or a full batch, triggers
  // one more run.
  let running: Promise<number> | null = null;
  let again = false;
  const relay = async (): Promise<number> => {
    if (stopping) return 0;
    if (running) {
      again = true;
      return running;
    }
    running = relayOutbox(kernel, boss)
      .then(({ queued, waiting, more, recordTypesChanged }) => {
        if (queued > 0) deliveries.wake();
        // The scheduled job's queue takes one job at a time: a burst of changes makes one run.
        if (recordTypesChanged) void boss.send('sync-record-views', {}).catch((error: unknown) => log.warn({ err: error }, 'record view sync not queued'));
        if (more) again = true;
        else if (waiting > 0) setTimeout(() => void relay(), RELAY_RETRY_MS).unref();
        if (waiting > 0) log.debug({ waiting }, 'outbox events wait for an endpoint being changed or deleted');
        return queued;
      })
      .catch((error: unknown) => {
        log.error({ err: error }, 'outbox relay failed');
        return 0;
      })
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          void relay();
        }
      });
    return running;
  };
  const listener = new pg.Client({ connectionString: ownerUrl, application_name: 'rowguard relay' });
  listener.on('error', (error) => log[stopping ? 'debug' : 'warn']({ err: error }, 'outbox listener connection failed'));
  listener.on('notification', () => void relay());
  await listener.connect();
  await listener.query('listen rowguard_outbox');
  const timer = setInterval(() => void relay(), 5_000);
  void relay();

  return {
    relay,
    async stop() {
      stopping = true;
      clearInterval(timer);
      await listener.end().catch(() => undefined);
      await running;
      await deliveries.stop();
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 }).catch((error: unknown) => log.warn({ err: error }, 'job queue stop failed'));
    },
  };
}
