import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { cors } from 'hono/cors';
import type { Logger } from 'pino';
import { type Kernel, TenantBusyError } from '@rowguard/kernel';
import { authenticateAdmin } from './auth/authenticate.js';
import type { VerifiedUser } from './auth/jwt-verifier.js';
import { problemFromError } from './database-errors.js';
import { registerDocs } from './docs.js';
import type { AppEnv } from './context-variables.js';
import { IdempotentReplay } from './idempotency.js';
import { jsonBody } from './middleware/json-body.js';
import { requestContext } from './middleware/request-context.js';
import { tenantRequest } from './middleware/tenant-request.js';
import { HttpProblem, problemResponse } from './problem.js';
import { registerResource } from './resource.js';
import { Problem } from './schemas.js';
import { registerAdminRoutes } from './routes/admin.js';
import { apiKeys } from './routes/api-keys.js';
import { auditLog } from './routes/audit-log.js';
import { comments } from './routes/comments.js';
import { documents } from './routes/documents.js';
import { invoices } from './routes/invoices.js';
import { members } from './routes/members.js';
import { projects } from './routes/projects.js';
import { tasks } from './routes/tasks.js';
import { registerWebhookDeliveryRoutes } from './routes/webhook-deliveries.js';
import { registerRecordTypeRoutes } from './routes/record-types.js';
import { registerRecordRoutes } from './routes/records.js';
import { registerTenantOpenApi } from './tenant-openapi.js';
import { webhookDestinationCheck, webhooks } from './routes/webhooks.js';
import type { Resolve } from '../webhooks/destination-guard.js';

const WRITES = ['POST', 'PATCH', 'PUT', 'DELETE'];

/** Every tenant resource, in the order of the OpenAPI document. */
export const resources = [
  projects,
  tasks,
  documents,
  comments,
  invoices,
  members,
  apiKeys,
  webhooks,
  auditLog,
];

export interface AppOptions {
  kernel: Kernel;
  log: Logger;
  /** Resolves when the database is reachable and migrations are current. */
  ready: () => Promise<void>;
  verifyJwt: ((token: string) => Promise<VerifiedUser>) | null;
  adminToken: string | undefined;
  bodyLimit: number;
  /** Allowed CORS origins; empty turns CORS off. */
  corsOrigins: readonly string[];
  /** How long a stored Idempotency-Key response is replayed. */
  idempotencyTtlSeconds?: number;
  /** Let webhooks target loopback and private addresses (development and tests only). */
  allowPrivateDestinations?: boolean;
  /** Longest wait for DNS when a webhook URL is registered. */
  webhookDnsTimeoutMs?: number;
  /** Name resolution for webhook URLs (default: the system resolver). */
  resolveHost?: Resolve;
  /**
   * Wakes the outbox relay after a write succeeded: the service's is a NOTIFY outside the
   * write's transaction (`createOutboxNudge`), given here so that HTTP knows nothing of the jobs.
   */
  nudgeOutbox: () => void;
}

/** The HTTP service: tenant API under /v1, admin API under /admin, health, OpenAPI and docs. */
export function createApp({ kernel, log, ready, verifyJwt, adminToken, bodyLimit, corsOrigins, idempotencyTtlSeconds = 86_400, allowPrivateDestinations = false, webhookDnsTimeoutMs = 2_000, resolveHost, nudgeOutbox }: AppOptions): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const where = result.target === 'json' ? 'body' : result.target;
      const errors = result.error.issues.map((issue) => ({ field: [where, ...issue.path.map(String)].join('.'), message: issue.message }));
      throw new HttpProblem('VALIDATION_FAILED', undefined, errors);
    },
  });

  app.use('*', requestContext(log));
  // A write that succeeded (it committed, with its events) wakes the relay, after the fact;
  // reads, HEAD and CORS preflights (OPTIONS, 204) never send a NOTIFY, nor pass through here.
  app.on(WRITES, '*', async (c, next) => {
    await next();
    if (c.res.status >= 200 && c.res.status < 300) nudgeOutbox();
  });
  if (corsOrigins.length > 0) app.use('*', cors({ origin: [...corsOrigins], exposeHeaders: ['ETag', 'X-Request-Id', 'Location', 'Idempotent-Replayed'] }));
  const body = jsonBody({ limit: bodyLimit });
  const destination = webhookDestinationCheck({ allowPrivate: allowPrivateDestinations, timeoutMs: webhookDnsTimeoutMs, resolve: resolveHost });
  app.use('/v1/*', tenantRequest({ kernel, verifyJwt, idempotencyTtlSeconds, bodyChecks: [body, destination] }));
  app.use('/admin/*', authenticateAdmin(adminToken));
  // Outside /v1 (whose middleware runs the body checks itself), only the admin API takes bodies.
  app.use('/admin/*', body);

  const health = (path: string, summary: string, status: string) =>
    createRoute({
      method: 'get',
      path,
      tags: ['Health'],
      summary,
      responses: {
        200: { description: status, content: { 'application/json': { schema: z.object({ status: z.literal(status) }) } } },
        ...(path === '/readyz' ? { 503: { description: 'Not ready', content: { 'application/problem+json': { schema: Problem } } } } : {}),
      },
    });
  app.openapi(health('/healthz', 'The process is up', 'ok'), (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(health('/readyz', 'The database answers and its migrations are current', 'ready'), async (c) => {
    try {
      await ready();
      return c.json({ status: 'ready' as const }, 200);
    } catch (error) {
      c.get('log').warn({ err: error, requestId: c.get('requestId') }, 'not ready');
      return problemResponse(c, new HttpProblem('NOT_READY')) as never;
    }
  });

  for (const resource of resources) registerResource(app, resource);
  registerWebhookDeliveryRoutes(app);
  registerRecordTypeRoutes(app);
  registerRecordRoutes(app);
  registerAdminRoutes(app, kernel);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'A JWT naming the user (sub) and tenant (tid), or an API key (rg_…)',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'admin', { type: 'http', scheme: 'bearer', description: 'The admin token (ROWGUARD_ADMIN_TOKEN)' });
  const document = {
    openapi: '3.1.0',
    info: {
      title: 'Rowguard API',
      version: '0.1.0',
      description: 'Multi-tenant API whose tenant isolation is enforced by PostgreSQL row-level security. The tenant comes only from the credential.',
    },
  };
  app.doc31('/openapi.json', document);
  registerTenantOpenApi(app, document);
  registerDocs(app);

  app.notFound((c) => problemResponse(c, new HttpProblem('NOT_FOUND'), { requestId: c.get('requestId') }));

  app.onError((error, c) => {
    const requestId = c.get('requestId');
    if (error instanceof IdempotentReplay) {
      const replayed = error.response();
      replayed.headers.set('X-Request-Id', requestId);
      return replayed;
    }
    const problem =
      problemFromError(error) ??
      (error instanceof HTTPException && error.status < 500 ? new HttpProblem('BAD_REQUEST') : null);
    if (problem) {
      if (problem.status >= 500) c.get('log')?.warn({ err: error, code: problem.code, requestId }, 'request failed');
      if (problem.status === 401) c.header('WWW-Authenticate', 'Bearer');
      if (error instanceof TenantBusyError) c.header('Retry-After', String(error.retryAfterSeconds));
      return problemResponse(c, problem, { requestId });
    }
    c.get('log')?.error({ err: error, requestId }, 'unhandled error');
    return problemResponse(c, new HttpProblem('INTERNAL'), { requestId });
  });

  return app;
}
