import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { mintToken } from '../../src/http/auth/mint-token.js';
import { startService, type RunningService } from '../../src/service.js';
import { TEST_ROLES } from './cluster.js';
import type { LoadTenant } from './mixed-load.js';

export interface TestService {
  service: RunningService;
  secrets: { jwtSecret: string; adminToken: string };
  /** Every log line the service wrote (JSON). */
  logs: string[];
  /** Creates `count` tenants through the admin API, each with an owner and a token. */
  createTenants(count: number): Promise<LoadTenant[]>;
}

/** The whole service (HTTP on a free port) on a test database, its logs captured. */
export async function startTestService(
  urls: { ownerUrl: string; appUrl: string },
  env: Record<string, string> = {},
  secrets = { jwtSecret: randomBytes(32).toString('base64url'), adminToken: randomBytes(32).toString('base64url') },
): Promise<TestService> {
  const logs: string[] = [];
  const config = loadConfig({
    ROWGUARD_DATABASE_URL: urls.ownerUrl,
    ROWGUARD_DB_APP_URL: urls.appUrl,
    ROWGUARD_SYSTEM_ROLE: TEST_ROLES.system,
    ROWGUARD_PORT: '0',
    ...env,
  });
  const sink = new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) });
  const service = await startService(config, pino({ level: 'info' }, sink), secrets);

  async function createTenants(count: number): Promise<LoadTenant[]> {
    const tenants: LoadTenant[] = [];
    for (let i = 0; i < count; i++) {
      const prefix = `t${i}`;
      const reply = await fetch(`${service.url}/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secrets.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Tenant ${prefix}`, owner: { user_id: `owner-${prefix}`, email: `owner-${prefix}@example.test` } }),
      });
      if (reply.status !== 201) throw new Error(`tenant creation failed: ${reply.status} ${await reply.text()}`);
      const { id } = (await reply.json()) as { id: string };
      tenants.push({ id, prefix, token: await mintToken({ secret: secrets.jwtSecret, tenantId: id, userId: `owner-${prefix}`, tenantClaim: 'tid', ttl: '1h' }) });
    }
    return tenants;
  }
  return { service, secrets, logs, createTenants };
}
