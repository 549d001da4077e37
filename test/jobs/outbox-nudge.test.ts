import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboxNudge } from '../../src/jobs/outbox-nudge.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let listener: pg.Client;
let received = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  listener = await db.ownerClient();
  listener.on('notification', () => (received += 1));
  await listener.query('listen rowguard_outbox');
});
afterAll(async () => {
  await listener.end();
  await db.close();
});

/** Notifications received while `work` runs and for `settle` ms after. */
async function count(work: () => Promise<void>, settle = 300): Promise<number> {
  const before = received;
  await work();
  await sleep(settle);
  return received - before;
}

describe('the outbox nudge', () => {
  it('sends at once after a quiet spell', async () => {
    const nudge = createOutboxNudge(db.kernel().kernel, { minIntervalMs: 50 });
    expect(await count(async () => nudge())).toBe(1);
  });

  it('under a steady stream of writes, sends a few NOTIFYs a second, not one per write, and never drops the last', async () => {
    const nudge = createOutboxNudge(db.kernel().kernel, { minIntervalMs: 50 });
    // A write every 2 ms for about 300 ms (longer on a loaded machine): 150 nudges.
    let streamed = 0;
    const sent = await count(async () => {
      const started = performance.now();
      for (let i = 0; i < 150; i++) {
        nudge();
        await sleep(2);
      }
      streamed = performance.now() - started;
    });
    expect(sent).toBeGreaterThanOrEqual(2);
    // At most one per 50 ms of the stream, plus the first and the trailing one.
    expect(sent).toBeLessThanOrEqual(Math.floor(streamed / 50) + 2);
    expect(sent).toBeLessThan(150 / 4);
    // A write right after a NOTIFY is still announced, at the end of the interval.
    expect(await count(async () => { nudge(); await sleep(5); nudge(); })).toBe(2);
  });
});
