import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

// Both tiers run against real PostgreSQL with the same pool and timeouts.
const shared = {
  pool: 'forks',
  testTimeout: 60_000,
  hookTimeout: 180_000,
} as const;

// The packages from their sources, as tsconfig.json's paths do for the type check and tsx
// (in each project: projects do not inherit the root's settings).
const source = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url));
const alias = [
  { find: /^@rowguard\/(kernel|audit|testing)$/, replacement: source('$1/src/index.ts') },
  { find: /^@rowguard\/kernel\/(\w+)$/, replacement: source('kernel/src/adapters/$1.ts') },
];

const CITUS_SUITES = [
  'test/citus/distribution.test.ts',
  'test/citus/routing.test.ts',
  'test/isolation.test.ts',
  'test/http/resources.test.ts',
  'test/http/idempotency.test.ts',
  'test/http/outbox.test.ts',
  'test/http/request-transaction.test.ts',
  'test/jobs/webhooks.test.ts',
  'test/jobs/relay-races.test.ts',
  'test/timeouts.test.ts',
  'test/principal-check.test.ts',
  'test/audit/probe.test.ts',
  'test/citus/scale-out.test.ts',
  'test/records/database-rules.test.ts',
  'test/records/records-api.test.ts',
  'test/records/record-views.test.ts',
  'test/records/record-attacks.test.ts',
];

export default defineConfig({
  test: {
    // Here at the root, not in each project: the root runs it once per run and both projects
    // read what it provides. Once per project would start two clusters, and on a shared server
    // (ROWGUARD_TEST_DATABASE_URL) the second setup drops the first one's databases.
    globalSetup: ['test/helpers/global-setup.ts'],
    projects: [
      {
        // `npm run test:fast`: what a developer runs while working.
        resolve: { alias },
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/reliability/**', 'test/citus/**'],
          // Files share a worker's module graph instead of a fresh one each (about 15 s of 110 on
          // two cores): every file works in a database of its own and changes no process-wide state.
          isolate: false,
          ...shared,
        },
      },
      {
        // `npm run test:citus`: the suites whose promise must hold on a Citus cluster, run there
        // (ROWGUARD_TEST_CITUS_URL, a coordinator's superuser URL; .ci/run builds and starts one).
        // Without a cluster only test/citus/no-cluster.test.ts runs, and says so (CI fails it).
        resolve: { alias },
        test: {
          name: 'citus',
          include: process.env.ROWGUARD_TEST_CITUS_URL ? CITUS_SUITES : ['test/citus/no-cluster.test.ts'],
          env: { ROWGUARD_TEST_ON_CITUS: '1' },
          // One file at a time: each creates a database on every node of the one cluster.
          fileParallelism: false,
          ...shared,
        },
      },
      {
        // `npm run test:reliability`: leak, faults, fuzz and fairness under load, and plans at scale; minutes, not seconds.
        resolve: { alias },
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          ...shared,
        },
      },
    ],
  },
});
