import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createHarness, type Harness, type TestTenant } from '../helpers/http.js';

// A tenant's slow DNS answers must not hold pooled connections: with two app connections and
// twelve webhook registrations stuck in DNS, another tenant is still served.
let db: TestDatabase;
let h: Harness;
let a: TestTenant;
let b: TestTenant;
let openGate: () => void;
const gate = new Promise<void>((resolve) => (openGate = resolve));
let lookups = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  h = createHarness(db, {
    kernel: { appPoolSize: 2 },
    app: {
      webhookDnsTimeoutMs: 30_000,
      resolveHost: async () => {
        lookups += 1;
        await gate;
        return [{ address: '93.184.215.14', family: 4 }];
      },
    },
  });
  a = await h.tenant('Slow DNS');
  b = await h.tenant('Bystander');
});
afterAll(() => db.close());

describe('webhook destinations', () => {
  it('are resolved before the transaction opens: slow lookups hold no connection', async () => {
    const pending = Array.from({ length: 12 }, (_, i) =>
      h.call('POST', '/v1/webhooks', { token: a.token, body: { url: `https://hook-${i}.example.com/in`, event_types: ['*'] }, headers: i % 2 ? { 'idempotency-key': `dns-${i}` } : {} }),
    );
    const updated = h.call('PATCH', '/v1/webhooks/00000000-0000-4000-8000-000000000000', { token: a.token, body: { url: 'https://moved.example.com/in' } });
    while (lookups < 13) await new Promise((resolve) => setTimeout(resolve, 10));
    const bystander = await h.call('GET', '/v1/projects', { token: b.token });
    expect(bystander.status).toBe(200);
    openGate();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual(Array(12).fill(201));
    expect((await updated).status).toBe(404);
  });
});
