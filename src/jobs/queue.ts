import PgBossModule from 'pg-boss';

export type PgBoss = PgBossModule;

/** The schema of the queue's tables. */
export const QUEUE_SCHEMA = 'pgboss';

export interface QueueOptions {
  /** Owner connection: the queue keeps its tables in the "pgboss" schema. */
  connectionString: string;
  /** How often expired jobs (a worker died mid-job) are noticed and retried. */
  maintenanceIntervalSeconds?: number;
}

/** The PostgreSQL job queue (pg-boss) shared by the worker and the scheduler. */
export function createQueue({ connectionString, maintenanceIntervalSeconds = 30 }: QueueOptions): PgBoss {
  return new PgBossModule({
    connectionString,
    schema: QUEUE_SCHEMA,
    application_name: 'rowguard worker',
    max: 4,
    maintenanceIntervalSeconds,
    monitorStateIntervalSeconds: 60,
  });
}
