import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { mintToken } from '../src/cli/mint-token.js';
import { cpuMilliseconds } from './cpu-time.js';
import type { Key } from './driver-workloads.js';
import { summarize, type Summary } from './statistics.js';

export type Route = 'hello (ceiling)' | 'GET project, floor route' | 'GET project by id' | 'GET project by id, set-config' | 'GET 20 projects' | 'POST project';
export const ROUTES: Route[] = ['hello (ceiling)', 'GET project, floor route', 'GET project by id', 'GET project by id, set-config', 'GET 20 projects', 'POST project'];

export interface RouteResult {
  route: Route;
  rate: Summary;
  p50: number;
  p99: number;
  errors: number;
  /** CPU microseconds per request: the service process, all PostgreSQL processes, the load generator. */
  cpu: { service: number; postgres: number; loadGenerator: number };
}

/**
 * Runs the service in a child process and loads each route with autocannon, routes
 * interleaved within each round, every request with a real JWT of the key's tenant.
 */
export async function httpBenchmark(
  { appUrl, ownerUrl, systemRole }: { appUrl: string; ownerUrl: string; systemRole: string },
  keys: readonly Key[],
  { seconds, rounds, connections, log, routes = ROUTES }: { seconds: number; rounds: number; connections: number; log: (line: string) => void; routes?: readonly Route[] },
): Promise<RouteResult[]> {
  const secret = 'bench-secret-'.padEnd(48, 'x');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/http-server.ts'], {
    env: { ...process.env, BENCH_APP_URL: appUrl, BENCH_OWNER_URL: ownerUrl, BENCH_SYSTEM_ROLE: systemRole, BENCH_JWT_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve) => child.stdout.on('data', (d) => /port (\d+)/.test(String(d)) && resolve(Number(/port (\d+)/.exec(String(d))![1]))));
    const sample = keys.slice(0, 200);
    const tokens = new Map(await Promise.all([...new Set(sample.map((k) => k.tenant))].map(async (t) => [t, await mintToken({ secret, tenantId: t, userId: 'bench-user', tenantClaim: 'tid', ttl: '1h' })] as const)));
    let i = 0;
    const next = () => sample[i++ % sample.length]!;
    const request = (route: Route): autocannon.Request => ({
      setupRequest: (req) => {
        const key = next();
        const headers = { ...req.headers, authorization: `Bearer ${tokens.get(key.tenant)}`, 'content-type': 'application/json' };
        switch (route) {
          case 'hello (ceiling)':
            return { ...req, method: 'GET', path: '/bench/hello', headers };
          case 'GET project, floor route':
            return { ...req, method: 'GET', path: `/bench/floor/projects/${key.id}`, headers };
          case 'GET project by id':
            return { ...req, method: 'GET', path: `/v1/projects/${key.id}`, headers };
          case 'GET project by id, set-config':
            return { ...req, method: 'GET', path: `/set-config/v1/projects/${key.id}`, headers };
          case 'GET 20 projects':
            return { ...req, method: 'GET', path: '/v1/projects?limit=20', headers };
          case 'POST project':
            return { ...req, method: 'POST', path: '/v1/projects', headers, body: '{"name":"bench"}' };
        }
      },
    });
    const load = (route: Route, duration: number) => autocannon({ url: `http://127.0.0.1:${port}`, connections, duration, requests: [request(route)] });
    // Warm-up: JIT, prepared statements on every pooled connection, caches.
    for (const route of routes) await load(route, 1);
    const results = new Map(routes.map((r) => [r, { rates: [] as number[], p50: [] as number[], p99: [] as number[], errors: 0, requests: 0, service: 0, postgres: 0, loadGenerator: 0 }]));
    for (let round = 0; round < rounds; round++) {
      for (const route of routes) {
        log(`HTTP · round ${round + 1} · ${route}`);
        const before = { service: await cpuMilliseconds({ pid: child.pid! }), postgres: await cpuMilliseconds('postgres'), self: process.cpuUsage() };
        const result = await load(route, seconds);
        const self = process.cpuUsage(before.self);
        const r = results.get(route)!;
        r.rates.push(result.requests.average);
        r.p50.push(result.latency.p50);
        r.p99.push(result.latency.p99);
        r.errors += result.errors + result.non2xx;
        r.requests += result.requests.total;
        r.service += (await cpuMilliseconds({ pid: child.pid! })) - before.service;
        r.postgres += (await cpuMilliseconds('postgres')) - before.postgres;
        r.loadGenerator += (self.user + self.system) / 1000;
      }
    }
    const perRequest = (ms: number, requests: number) => Math.round((ms * 1000) / requests);
    return routes.map((route) => {
      const r = results.get(route)!;
      return {
        route,
        rate: summarize(r.rates),
        p50: summarize(r.p50).median,
        p99: summarize(r.p99).median,
        errors: r.errors,
        cpu: { service: perRequest(r.service, r.requests), postgres: perRequest(r.postgres, r.requests), loadGenerator: perRequest(r.loadGenerator, r.requests) },
      };
    });
  } finally {
    child.kill('SIGTERM');
  }
}
