import type { PgBoss } from './queue.js';
import { QUEUE_SCHEMA } from './queue.js';

export interface FetchedJob<T> {
  id: string;
  data: T;
}

export interface FairFetchOptions {
  /** Jobs wanted at most. */
  limit: number;
  /** Jobs one tenant may have running at once. */
  share: number;
  /** Jobs each tenant has running now (tenants not listed have none). */
  running: ReadonlyMap<string, number>;
}

/**
 * Which ready jobs to hand out, and their activation, by the rules of pg-boss 10's own fetch
 * (fetchNextJob in pg-boss/src/plans.js): ready means created or retry with start_after
 * passed; priority first, then age; SKIP LOCKED; the job becomes active, started now, its
 * retry count one higher if it had started before. Plus one rule: a tenant (data.tenantId) is
 * handed no more jobs than its share minus what it has running; the jobs of a tenant at its
 * share are passed over, not fetched, so the next tenant's job is handed out in the same
 * fetch. A job whose singleton key has an active job is passed over too (pg-boss's unique
 * index would refuse it); two ready jobs with one key cannot happen in the delivery queue
 * (a delivery is queued again only once it has failed, and its job has ended).
 */
const FETCH = `
  with ready as (
    select id, singleton_key, priority, created_on, data->>'tenantId' as tenant,
           row_number() over (partition by data->>'tenantId' order by priority desc, created_on, id) as nth
    from ${QUEUE_SCHEMA}.job
    where name = $1 and state < 'active' and start_after < now()),
  chosen as (
    select r.id from ready r
    left join unnest($3::text[], $4::int[]) as busy (tenant, running) on busy.tenant = r.tenant
    where r.nth <= $5 - coalesce(busy.running, 0)
      -- written to use pg-boss's index on stately jobs, (name, state, coalesce(singleton_key, ''))
      and not exists (
        select from ${QUEUE_SCHEMA}.job a
        where a.name = $1 and a.state = 'active' and a.policy = 'stately' and coalesce(a.singleton_key, '') = r.singleton_key)
    order by r.priority desc, r.created_on, r.id
    limit $2),
  locked as (
    select j.id from ${QUEUE_SCHEMA}.job j join chosen c on c.id = j.id
    where j.name = $1 and j.state < 'active' and j.start_after < now()
    for update of j skip locked),
  activated as (
    update ${QUEUE_SCHEMA}.job j set
      state = 'active',
      started_on = now(),
      retry_count = case when j.started_on is not null then j.retry_count + 1 else j.retry_count end
    from locked
    where j.name = $1 and j.id = locked.id
    returning j.id, j.data, j.priority, j.created_on)
  select id, data from activated order by priority desc, created_on, id`;

/**
 * Fetches up to `limit` jobs of `queue`, never more for one tenant than its share allows.
 * Completing, failing, retrying with backoff and expiring stay with pg-boss (by job id).
 *
 * Why not pg-boss's own fetch: it is blind to tenants, so with one tenant's 200 jobs at the
 * head of the queue every fetch returns that tenant's jobs, and another tenant's job waits
 * behind all of them. Putting such jobs back after fetching them costs a write per job per
 * fetch and has to move them out of the way (deferral), which stalls that tenant; not
 * fetching them costs nothing. pg-boss's per-key policies do not help either: "singleton"
 * allows one active job per key, and its fetch fails outright when the next job in line has a
 * key with one already running.
 */
export async function fetchFairly<T>(boss: PgBoss, queue: string, { limit, share, running }: FairFetchOptions): Promise<FetchedJob<T>[]> {
  if (limit <= 0) return [];
  const { rows } = await boss.getDb().executeSql(FETCH, [queue, limit, [...running.keys()], [...running.values()], share]);
  return rows as FetchedJob<T>[];
}
