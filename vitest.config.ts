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
          exclude: [...configDefaults.exclude, 'test/reliability/**'],
          // Files share a worker's module graph instead of a fresh one each (about 15 s of 110 on
          // two cores): every file works in a database of its own and changes no process-wide state.
          isolate: false,
          ...shared,
        },
      },
      {
        // `npm run test:reliability`: leak, faults, fuzz and fairness under load; minutes, not seconds.
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
