import { resolve } from 'node:path';
import { z } from 'zod';
import { RowguardError } from '@rowguard/kernel';

const RESERVED_PORTS = new Set([1883, 3306, 4222, 5432, 5672, 6379]);

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL');

const roleName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case role name');

const schema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  ROWGUARD_DATABASE_URL: postgresUrl.optional(),
  ROWGUARD_DB_APP_URL: postgresUrl.optional(),
  ROWGUARD_DATA_DIR: z.string().min(1).default('.rowguard'),
  ROWGUARD_HOST: z.string().min(1).default('127.0.0.1'),
  ROWGUARD_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  ROWGUARD_APP_ROLE: roleName.default('rowguard_app'),
  ROWGUARD_SYSTEM_ROLE: roleName.default('rowguard_system'),
  ROWGUARD_DB_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  ROWGUARD_DB_PREPARE: z.enum(['true', 'false']).default('true'),
  ROWGUARD_TENANT_CONTEXT: z.enum(['auto', 'set-local', 'set-config']).default('auto'),
  ROWGUARD_STATEMENT_TIMEOUT: z.coerce.number().int().min(0).max(86_400_000).default(30_000),
  ROWGUARD_LOCK_TIMEOUT: z.coerce.number().int().min(0).max(86_400_000).default(10_000),
  ROWGUARD_IDLE_IN_TRANSACTION_TIMEOUT: z.coerce.number().int().min(0).max(86_400_000).default(5_000),
  ROWGUARD_TENANT_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1000).optional(),
  ROWGUARD_TENANT_QUEUE_TIMEOUT: z.coerce.number().int().min(0).max(60_000).default(2_000),
  ROWGUARD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ROWGUARD_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ROWGUARD_JWT_PUBLIC_KEY: z.string().includes('-----BEGIN PUBLIC KEY-----', { message: 'must be a PEM public key' }).optional(),
  ROWGUARD_JWT_JWKS_URL: z.string().url().optional(),
  ROWGUARD_JWT_ALGORITHMS: z
    .string()
    .regex(/^((HS|RS|PS|ES)(256|384|512)|EdDSA)(,((HS|RS|PS|ES)(256|384|512)|EdDSA))*$/, 'must be a comma-separated list such as RS256,ES256')
    .optional(),
  ROWGUARD_JWT_ISSUER: z.string().optional(),
  ROWGUARD_JWT_AUDIENCE: z.string().optional(),
  ROWGUARD_JWT_MAX_LIFETIME: z.coerce.number().int().min(1).max(366 * 86_400).default(86_400),
  ROWGUARD_JWT_REQUIRE_ISS_AUD: z.enum(['true', 'false']).default('true'),
  ROWGUARD_JWT_JWKS_TIMEOUT: z.coerce.number().int().min(100).max(60_000).default(5_000),
  ROWGUARD_JWT_JWKS_COOLDOWN: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  ROWGUARD_JWT_JWKS_CACHE_MAX_AGE: z.coerce.number().int().min(1_000).max(86_400_000).default(600_000),
  ROWGUARD_JWT_TENANT_CLAIM: z.string().regex(/^[A-Za-z_][\w:/.-]{0,99}$/, 'must be a claim name').default('tid'),
  ROWGUARD_ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  ROWGUARD_BODY_LIMIT: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(1024 * 1024),
  ROWGUARD_CORS_ORIGINS: z.string().optional(),
  ROWGUARD_IDEMPOTENCY_TTL: z.coerce.number().int().min(1).max(30 * 86_400).default(86_400),
  ROWGUARD_WORKER: z.enum(['in-process', 'off']).default('in-process'),
  ROWGUARD_WEBHOOK_TIMEOUT: z.coerce.number().int().min(100).max(120_000).default(10_000),
  ROWGUARD_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  ROWGUARD_WEBHOOK_RETRY_DELAY: z.coerce.number().int().min(1).max(86_400).default(10),
  ROWGUARD_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
  ROWGUARD_WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  ROWGUARD_WEBHOOK_TENANT_CONCURRENCY: z.coerce.number().int().min(1).max(1000).optional(),
  ROWGUARD_WEBHOOK_DNS_TIMEOUT: z.coerce.number().int().min(100).max(30_000).default(2_000),
  ROWGUARD_DELIVERY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
});

export interface Config {
  readonly env: 'production' | 'development' | 'test';
  /** Owner connection: migrations and the system pool. Absent ⇒ embedded PostgreSQL. */
  readonly databaseUrl: string | undefined;
  /** Restricted app-role connection for every request. */
  readonly appUrl: string | undefined;
  /** Embedded PostgreSQL's data and generated credentials. */
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** App role provisioned by setup-roles; the app URL's user when that is set. */
  readonly appRole: string;
  readonly systemRole: string;
  readonly poolSize: number;
  /** Named prepared statements per connection; turn off behind PgBouncer older than 1.21. */
  readonly prepare: boolean;
  /**
   * `set-local` (works on Citus), `set-config` (fewer statements, plain PostgreSQL only), or
   * `auto`: `set-local` on Citus, `set-config` elsewhere, decided when the kernel is built.
   */
  readonly tenantContext: 'auto' | 'set-local' | 'set-config';
  /** Per-transaction statement_timeout and lock_timeout in ms; 0 leaves the server's setting. */
  readonly statementTimeout: number;
  readonly lockTimeout: number;
  /** Per-transaction idle_in_transaction_session_timeout in ms; 0 leaves the server's setting. */
  readonly idleInTransactionTimeout: number;
  /** Pooled app connections one tenant may hold at once (default: a third of the pool). */
  readonly tenantMaxConnections: number;
  /** How long a tenant's request waits for one of its connections before 429 TENANT_BUSY. */
  readonly tenantQueueTimeout: number;
  readonly logLevel: string;
  readonly jwt: {
    readonly secret: string | undefined;
    readonly publicKeyPem: string | undefined;
    readonly jwksUrl: string | undefined;
    readonly algorithms: readonly string[] | undefined;
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
    readonly tenantClaim: string;
    /** Longest token lifetime in seconds (exp − iat, and exp from now); tokens without exp are refused. */
    readonly maxLifetimeSeconds: number;
    /** With a public key or JWKS, refuse to start unless issuer and audience are set. */
    readonly requireIssuerAudience: boolean;
    readonly jwksTimeoutMs: number;
    readonly jwksCooldownMs: number;
    readonly jwksCacheMaxAgeMs: number;
  };
  /** Credential of the admin API; absent ⇒ generated in development, admin API off in production. */
  readonly adminToken: string | undefined;
  /** Largest request body in bytes. */
  readonly bodyLimit: number;
  /** CORS allowed origins; empty ⇒ CORS off. */
  readonly corsOrigins: readonly string[];
  /** Seconds a stored Idempotency-Key response is replayed. */
  readonly idempotencyTtlSeconds: number;
  /** Run the background worker inside `serve` ("in-process") or only as `rowguard worker`. */
  readonly worker: 'in-process' | 'off';
  readonly webhooks: {
    readonly timeoutMs: number;
    readonly maxAttempts: number;
    readonly retryDelaySeconds: number;
    /** Allow loopback and private destinations: development and tests only. */
    readonly allowPrivate: boolean;
    /** Milliseconds to wait for DNS when a webhook URL is registered. */
    readonly dnsTimeoutMs: number;
    /** Deliveries in flight at once per worker process. */
    readonly concurrency: number;
    /** Deliveries of one tenant in flight at once per worker process (default 4, at most the tenant's connection cap). */
    readonly tenantConcurrency: number;
    readonly retentionDays: number;
  };
}

/**
 * Reads the environment once, at the entry point, into a frozen, validated object.
 * `overrides` holds command-line flags, which win over the environment.
 */
export function loadConfig(env: NodeJS.ProcessEnv, overrides: Partial<Record<keyof z.input<typeof schema>, string>> = {}): Config {
  const parsed = schema.safeParse({ ...pickDefined(env), ...pickDefined(overrides) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RowguardError('CONFIG_INVALID', `invalid setting ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  const tenantMaxConnections = Math.min(e.ROWGUARD_TENANT_MAX_CONNECTIONS ?? Math.max(1, Math.floor(e.ROWGUARD_DB_POOL_SIZE / 3)), e.ROWGUARD_DB_POOL_SIZE);
  if (RESERVED_PORTS.has(e.ROWGUARD_PORT)) {
    throw new RowguardError('CONFIG_INVALID', `invalid setting ROWGUARD_PORT: ${e.ROWGUARD_PORT} belongs to another service on this machine`);
  }
  if (e.ROWGUARD_DB_APP_URL && !e.ROWGUARD_DATABASE_URL) {
    throw new RowguardError('CONFIG_INVALID', 'ROWGUARD_DB_APP_URL needs ROWGUARD_DATABASE_URL (the owner connection) too');
  }
  return Object.freeze({
    env: e.NODE_ENV,
    databaseUrl: e.ROWGUARD_DATABASE_URL,
    appUrl: e.ROWGUARD_DB_APP_URL,
    dataDir: resolve(e.ROWGUARD_DATA_DIR),
    host: e.ROWGUARD_HOST,
    port: e.ROWGUARD_PORT,
    appRole: e.ROWGUARD_DB_APP_URL ? decodeURIComponent(new URL(e.ROWGUARD_DB_APP_URL).username) : e.ROWGUARD_APP_ROLE,
    systemRole: e.ROWGUARD_SYSTEM_ROLE,
    poolSize: e.ROWGUARD_DB_POOL_SIZE,
    prepare: e.ROWGUARD_DB_PREPARE === 'true',
    tenantContext: e.ROWGUARD_TENANT_CONTEXT,
    statementTimeout: e.ROWGUARD_STATEMENT_TIMEOUT,
    lockTimeout: e.ROWGUARD_LOCK_TIMEOUT,
    idleInTransactionTimeout: e.ROWGUARD_IDLE_IN_TRANSACTION_TIMEOUT,
    tenantMaxConnections,
    tenantQueueTimeout: e.ROWGUARD_TENANT_QUEUE_TIMEOUT,
    logLevel: e.ROWGUARD_LOG_LEVEL,
    jwt: Object.freeze({
      secret: e.ROWGUARD_JWT_SECRET,
      publicKeyPem: e.ROWGUARD_JWT_PUBLIC_KEY,
      jwksUrl: e.ROWGUARD_JWT_JWKS_URL,
      algorithms: e.ROWGUARD_JWT_ALGORITHMS?.split(','),
      issuer: e.ROWGUARD_JWT_ISSUER,
      audience: e.ROWGUARD_JWT_AUDIENCE,
      tenantClaim: e.ROWGUARD_JWT_TENANT_CLAIM,
      maxLifetimeSeconds: e.ROWGUARD_JWT_MAX_LIFETIME,
      requireIssuerAudience: e.ROWGUARD_JWT_REQUIRE_ISS_AUD === 'true',
      jwksTimeoutMs: e.ROWGUARD_JWT_JWKS_TIMEOUT,
      jwksCooldownMs: e.ROWGUARD_JWT_JWKS_COOLDOWN,
      jwksCacheMaxAgeMs: e.ROWGUARD_JWT_JWKS_CACHE_MAX_AGE,
    }),
    adminToken: e.ROWGUARD_ADMIN_TOKEN,
    bodyLimit: e.ROWGUARD_BODY_LIMIT,
    idempotencyTtlSeconds: e.ROWGUARD_IDEMPOTENCY_TTL,
    worker: e.ROWGUARD_WORKER,
    webhooks: Object.freeze({
      timeoutMs: e.ROWGUARD_WEBHOOK_TIMEOUT,
      maxAttempts: e.ROWGUARD_WEBHOOK_MAX_ATTEMPTS,
      retryDelaySeconds: e.ROWGUARD_WEBHOOK_RETRY_DELAY,
      allowPrivate: e.ROWGUARD_WEBHOOK_ALLOW_PRIVATE === 'true',
      dnsTimeoutMs: e.ROWGUARD_WEBHOOK_DNS_TIMEOUT,
      concurrency: e.ROWGUARD_WEBHOOK_CONCURRENCY,
      tenantConcurrency: Math.min(e.ROWGUARD_WEBHOOK_TENANT_CONCURRENCY ?? Math.min(4, tenantMaxConnections), e.ROWGUARD_WEBHOOK_CONCURRENCY),
      retentionDays: e.ROWGUARD_DELIVERY_RETENTION_DAYS,
    }),
    corsOrigins: Object.freeze(e.ROWGUARD_CORS_ORIGINS ? e.ROWGUARD_CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean) : []),
  });
}

function pickDefined(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string>;
}
