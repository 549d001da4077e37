import { fetchFairly, type FetchedJob } from './fair-fetch.js';
import type { PgBoss } from './queue.js';

export interface DispatcherOptions<T> {
  boss: PgBoss;
  queue: string;
  /** Jobs running at once in this process. */
  concurrency: number;
  /** Jobs of one tenant running at once in this process. */
  perTenant: number;
  tenantOf: (data: T) => string;
  /** How long to wait before asking the queue again once it had nothing more to hand out. */
  pollingIntervalMs: number;
  /** Runs one job: resolving completes it, throwing fails it (the queue retries it, with backoff). */
  run: (job: FetchedJob<T>) => Promise<void>;
  onError: (error: unknown, context: string) => void;
}

export interface Dispatcher {
  /** Asks the queue now (new jobs were queued) instead of at the next poll. */
  wake(): void;
  /** Stops fetching and waits for the running jobs to end. */
  stop(): Promise<void>;
}

/**
 * Runs a queue's jobs in `concurrency` slots, fairly across tenants.
 *
 * pg-boss 10's `work()` is not used: it runs a fetched batch as one unit (all complete or all
 * fail) and fetches again only once the slowest job of the batch has ended, so one receiver
 * held to the deadline stalls the other slots of its batch; and with batchSize 1 each poller
 * makes one attempt per polling interval (4 pollers every 2 s: 120 attempts a minute, however
 * short the attempts). Here each job holds one slot and is completed or failed alone; free
 * slots are filled at once while the queue hands out full batches, and again whenever a job
 * ends (its tenant may have more waiting); the polling interval applies only once the queue
 * had nothing more to hand out. Completing, failing and retry backoff stay pg-boss's.
 *
 * Fairness: a tenant never holds more than `perTenant` slots of this process (fetchFairly
 * passes over its jobs meanwhile), so one tenant's backlog, or its endpoints that take the
 * whole deadline, leave the other slots to everyone else.
 */
export function startDispatcher<T extends object>(options: DispatcherOptions<T>): Dispatcher {
  const { boss, queue, concurrency, perTenant, tenantOf, pollingIntervalMs, run, onError } = options;
  const running = new Set<Promise<void>>();
  const byTenant = new Map<string, number>();
  let stopping = false;
  let woken = false;
  let interrupt: (() => void) | null = null;

  const wake = () => {
    woken = true;
    interrupt?.();
  };

  const nap = (ms: number) =>
    woken
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          interrupt = () => {
            clearTimeout(timer);
            resolve();
          };
        }).finally(() => (interrupt = null));

  const rest = (ms: number) => (ms < 5 || stopping ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms)));

  const start = (job: FetchedJob<T>) => {
    const tenant = tenantOf(job.data);
    byTenant.set(tenant, (byTenant.get(tenant) ?? 0) + 1);
    const done: Promise<void> = run(job)
      .then(
        () => boss.complete(queue, job.id),
        (error: unknown) => boss.fail(queue, job.id, error instanceof Error ? error : { message: String(error) }),
      )
      .catch((error: unknown) => onError(error, 'recording a job outcome failed (the job expires and is retried)'))
      .finally(() => {
        running.delete(done);
        const left = byTenant.get(tenant)! - 1;
        if (left === 0) byTenant.delete(tenant);
        else byTenant.set(tenant, left);
        wake();
      });
    running.add(done);
  };

  const loop = async () => {
    while (!stopping) {
      woken = false;
      const free = concurrency - running.size;
      if (free <= 0) {
        await nap(pollingIntervalMs); // until a job ends
        continue;
      }
      let jobs: FetchedJob<T>[] = [];
      const fetching = performance.now();
      try {
        jobs = await fetchFairly<T>(boss, queue, { limit: free, share: perTenant, running: byTenant });
      } catch (error) {
        onError(error, 'fetching jobs failed');
      }
      jobs.forEach(start);
      // A fetch reads every ready job: under a large backlog it is slow, and asking again as
      // soon as each job ends would keep a database core busy fetching. Resting as long as the
      // fetch took halves that at worst, and the next fetch fills every slot freed meanwhile.
      await rest(performance.now() - fetching);
      // A full batch: the queue probably has more, ask again at once (or once a slot frees).
      if (jobs.length === free) continue;
      await nap(pollingIntervalMs);
    }
  };
  const looping = loop();

  return {
    wake,
    async stop() {
      stopping = true;
      wake();
      await looping;
      await Promise.all(running);
    },
  };
}
