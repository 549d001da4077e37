/**
 * One set of worker settings for every worker a test starts: the job queue keeps the retry
 * and expiry policy of the first worker that created the queue.
 */
export const WORKER_SETTINGS = {
  delivery: { timeoutMs: 1500, maxAttempts: 3, allowPrivate: true },
  retryDelaySeconds: 1,
  deliveryRetentionDays: 30,
  maintenanceIntervalSeconds: 1,
  pollingIntervalSeconds: 0.5,
  expireGraceSeconds: 1,
};
