// The service for the HTTP benchmark, in its own process so that the load generator does not
// share its event loop. Adds two comparison routes:
//   GET /bench/hello                 the HTTP ceiling: no auth, no database
//   GET /bench/floor/projects/:id    the floor: the same credential verification, then the same
//                                    two statements as GET /v1/projects/:id (principal check,
//                                    read) as V0: explicit tenant filters, tables without RLS,
//                                    autocommit
//   /set-local/v1/…                  the same API with ROWGUARD_TENANT_CONTEXT=set-local (Citus's form:
//                                    SET LOCAL statements, BEGIN and COMMIT, the PL/pgSQL user check)
// The kernel settings are the service's defaults for a pool of 8 (loadConfig); the tenant
// context resolved as the service resolves `auto`.
import { serve } from '@hono/node-server';
import type pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../src/config/load-config.js';
import { readContextKey } from '../packages/kernel/src/db/context-proof.js';
import { createKernel, type Kernel } from '../packages/kernel/src/db/kernel.js';
import { createPool } from '../packages/kernel/src/db/pool.js';
import { resolveTenantContext } from '../src/kernel-from-config.js';
import { createApp } from '../src/http/app.js';
import { createJwtVerifier } from '../src/http/auth/jwt-verifier.js';
import { HttpProblem } from '../src/http/problem.js';
import { verifyCredential } from '../src/http/auth/authenticate.js';
import { jsonRows } from '../src/http/row-types.js';
import { createOutboxNudge } from '../src/jobs/outbox-nudge.js';

const { BENCH_APP_URL: appUrl, BENCH_OWNER_URL: ownerUrl, BENCH_SYSTEM_ROLE: systemRole, BENCH_JWT_SECRET: secret } = process.env;
const defaults = loadConfig({ ROWGUARD_DB_POOL_SIZE: '8' });
const pool = createPool({ connectionString: appUrl!, max: defaults.poolSize, applicationName: 'bench http' });
const systemPool = createPool({ connectionString: ownerUrl!, max: 2, applicationName: 'bench http system' });
const contextKey = await readContextKey(systemPool);
const kernelFor = (tenantContext: 'set-local' | 'set-config') =>
  createKernel({
    appPool: pool,
    systemPool,
    systemRole: systemRole!,
    tenantContext,
    statementTimeout: defaults.statementTimeout,
    lockTimeout: defaults.lockTimeout,
    idleInTransactionTimeout: defaults.idleInTransactionTimeout,
    maxConnectionsPerTenant: defaults.tenantMaxConnections,
    tenantQueueTimeout: defaults.tenantQueueTimeout,
    contextKey,
  });
const api = (kernel: Kernel) =>
  createApp({
    kernel,
    log: pino({ level: 'silent' }),
    ready: () => kernel.ping(),
    verifyJwt: createJwtVerifier({ secret }),
    adminToken: undefined,
    bodyLimit: defaults.bodyLimit,
    corsOrigins: [],
    nudgeOutbox: createOutboxNudge(kernel),
  });
const kernel = kernelFor(await resolveTenantContext(defaults.tenantContext, systemPool));
const app = api(kernel);
app.route('/set-local', api(kernelFor('set-local')));
app.get('/bench/hello', (c) => c.text('hello'));
const verifyJwt = createJwtVerifier({ secret });
app.get('/bench/floor/projects/:id', async (c) => {
  const credential = await verifyCredential(c, { kernel, verifyJwt });
  if (credential.kind !== 'user') throw new HttpProblem('NOT_A_MEMBER');
  // The principal check of src/http/auth/principal.ts, with the tenant filter written out.
  const principal = await pool.query({
    name: 'floor_principal',
    text: `select t.status as tenant_status, m.id as member_id, m.role, m.status as member_status
           from tenants_plain t left join team_members_plain m on m.tenant_id = t.id and m.user_id = $2
           where t.id = $1`,
    values: [credential.tenantId, credential.userId],
  });
  const member = principal.rows[0];
  if (!member?.member_id || member.member_status !== 'active') throw new HttpProblem('NOT_A_MEMBER');
  if (member.tenant_status !== 'active') throw new HttpProblem('TENANT_SUSPENDED');
  // The resource read of src/http/resource.ts, with the tenant filter written out, its rows
  // read as the request scope reads them (timestamps as their JSON text).
  const { rows } = await pool.query({
    name: 'floor_get',
    text: 'select id, name, description, status, created_by, created_at, updated_at, version from projects_plain where tenant_id = $1 and id = $2',
    values: [credential.tenantId, c.req.param('id')],
    types: jsonRows.types as pg.CustomTypesConfig,
  });
  if (!rows[0]) throw new HttpProblem('NOT_FOUND');
  const { version, ...project } = rows[0];
  c.header('ETag', `"${version}"`);
  return c.json(project);
});
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => process.stdout.write(`port ${info.port}\n`));
