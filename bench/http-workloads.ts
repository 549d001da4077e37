import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { mintToken } from '../src/http/auth/mint-token.js';
import { ProtocolCounter } from '../test/helpers/protocol-counter.js';
import { cpuMilliseconds, postgresProcesses } from './cpu-time.js';
import type { Key } from './driver-workloads.js';
import { summarize, type Summary } from './statistics.js';

export type Route =
  | 'hello (ceiling)'
  | 'GET project, floor route'
  | 'GET project by id'
  | 'GET project by id, set-local'
  | 'GET 20 projects'
  | 'POST project'
  | 'hand-written GET by id'
  | 'hand-written list'
  | 'hand-written POST'
  | 'GET record by id'
  | 'GET record by unique field'
  | 'POST record';
/**
 * The routes of the main HTTP comparison (the record routes are bench/records.ts's). Routes
 * compared with each other run back to back: the floor, GET by id and the hand-written GET;
 * each Rowguard route and its hand-written contender.
 */
export const ROUTES: Route[] = [
  'hello (ceiling)',
  'GET project, floor route',
  'GET project by id',
  'hand-written GET by id',
  'GET project by id, set-local',
  'GET 20 projects',
  'hand-written list',
  'POST project',
  'hand-written POST',
];

/** Routes served by the hand-written contender (bench/hand-written-server.ts), in its own process. */
export const isHandWritten = (route: Route) => route.startsWith('hand-written');

/** A customer record of a tenant, for the record routes. */
export interface RecordKey {
  tenant: string;
  id: string;
  email: string;
}

export interface RouteResult {
  route: Route;
  rate: Summary;
  p50: number;
  p99: number;
  errors: number;
  /** CPU microseconds per request: the process serving the route, the PostgreSQL server's processes, the load generator. */
  cpu: { service: number; postgres: number; loadGenerator: number };
}

interface Service {
  appUrl: string;
  ownerUrl: string;
  systemRole: string;
}

const SECRET = 'bench-secret-'.padEnd(48, 'x');

interface Server {
  child: ChildProcess;
  port: number;
}

/** Starts one of the bench servers in its own process; resolves with the port it listens on. */
async function startServer(script: string, { appUrl, ownerUrl, systemRole }: Service): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, BENCH_APP_URL: appUrl, BENCH_OWNER_URL: ownerUrl, BENCH_SYSTEM_ROLE: systemRole, BENCH_JWT_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d) => /port (\d+)/.test(String(d)) && resolve(Number(/port (\d+)/.exec(String(d))![1])));
    child.on('exit', (code) => reject(new Error(`${script} exited with code ${code} before listening`)));
  });
  return { child, port };
}

/** Both servers the routes need: Rowguard's (bench/http-server.ts) and, when asked for, the hand-written one. */
async function startServers(service: Service, routes: readonly Route[]) {
  const rowguard = await startServer('bench/http-server.ts', service);
  const handWritten = routes.some(isHandWritten) ? await startServer('bench/hand-written-server.ts', service).catch((e) => (rowguard.child.kill('SIGTERM'), Promise.reject(e))) : undefined;
  return {
    serverOf: (route: Route) => (isHandWritten(route) ? handWritten! : rowguard),
    stop: () => {
      rowguard.child.kill('SIGTERM');
      handWritten?.child.kill('SIGTERM');
    },
  };
}

/** Real JWTs for the tenants of the first 200 keys, and the request of a route for a key (or a record). */
async function requests(keys: readonly Key[], records: readonly RecordKey[] = []) {
  const sample = keys.slice(0, 200);
  const tenants = [...new Set([...sample, ...records].map((k) => k.tenant))];
  const tokens = new Map(await Promise.all(tenants.map(async (t) => [t, await mintToken({ secret: SECRET, tenantId: t, userId: 'bench-user', tenantClaim: 'tid', ttl: '1h' })] as const)));
  let i = 0;
  let created = 0;
  const run = Date.now().toString(36);
  return (route: Route) => {
    const key = sample[i % sample.length]!;
    const record = records[i++ % Math.max(1, records.length)];
    if (route.includes('record')) {
      if (!record) throw new Error(`${route} needs record keys`);
      const headers = { authorization: `Bearer ${tokens.get(record.tenant)}`, 'content-type': 'application/json' };
      if (route === 'POST record') {
        return { method: 'POST' as const, path: '/v1/records/customer', headers, body: JSON.stringify({ data: { email: `bench-${run}-${++created}@example.test`, name: 'Bench', score: created % 997 } }) };
      }
      const path = route === 'GET record by id' ? `/v1/records/customer/${record.id}` : `/v1/records/customer?filter[email]=${encodeURIComponent(record.email.toUpperCase())}`;
      return { method: 'GET' as const, path, headers };
    }
    const headers = { authorization: `Bearer ${tokens.get(key.tenant)}`, 'content-type': 'application/json' };
    const get = (path: string) => ({ method: 'GET' as const, path, headers });
    const post = (path: string) => ({ method: 'POST' as const, path, headers, body: '{"name":"bench"}' });
    switch (route) {
      case 'hello (ceiling)':
        return get('/bench/hello');
      case 'GET project, floor route':
        return get(`/bench/floor/projects/${key.id}`);
      case 'GET project by id':
        return get(`/v1/projects/${key.id}`);
      case 'GET project by id, set-local':
        return get(`/set-local/v1/projects/${key.id}`);
      case 'GET 20 projects':
        return get('/v1/projects?limit=20');
      case 'POST project':
        return post('/v1/projects');
      case 'hand-written GET by id':
        return get(`/projects/${key.id}`);
      case 'hand-written list':
        return get('/projects?limit=20');
      case 'hand-written POST':
        return post('/projects');
      default:
        throw new Error(`no request for ${route}`);
    }
  };
}

/**
 * Runs the service (and the hand-written contender) in child processes and loads each route
 * with autocannon, routes interleaved within each round, every request with a real JWT of
 * the key's tenant. A route's service CPU is that of the process serving it.
 */
export async function httpBenchmark(
  service: Service,
  keys: readonly Key[],
  {
    seconds,
    rounds,
    connections,
    log,
    routes = ROUTES,
    recordKeys = [],
  }: { seconds: number; rounds: number; connections: number; log: (line: string) => void; routes?: readonly Route[]; recordKeys?: readonly RecordKey[] },
): Promise<RouteResult[]> {
  const servers = await startServers(service, routes);
  try {
    const requestOf = await requests(keys, recordKeys);
    const postgres = await postgresProcesses(service.ownerUrl);
    const load = (route: Route, duration: number) =>
      autocannon({
        url: `http://127.0.0.1:${servers.serverOf(route).port}`,
        connections,
        duration,
        requests: [
          {
            setupRequest: (req) => {
              const next = requestOf(route);
              return { ...req, ...next, headers: { ...req.headers, ...next.headers } };
            },
          },
        ],
      });
    // Warm-up: JIT, prepared statements on every pooled connection, caches.
    for (const route of routes) await load(route, 1);
    const results = new Map(routes.map((r) => [r, { rates: [] as number[], p50: [] as number[], p99: [] as number[], errors: 0, requests: 0, service: 0, postgres: 0, loadGenerator: 0 }]));
    for (let round = 0; round < rounds; round++) {
      // Every other round in reverse order, so that neither route of a pair always runs first:
      // the machine's drift within a round then falls on both alike.
      for (const route of round % 2 === 0 ? routes : [...routes].reverse()) {
        log(`HTTP · round ${round + 1} · ${route}`);
        const pid = servers.serverOf(route).child.pid!;
        const before = { service: await cpuMilliseconds({ pid }), postgres: await cpuMilliseconds(postgres), self: process.cpuUsage() };
        const result = await load(route, seconds);
        const self = process.cpuUsage(before.self);
        const r = results.get(route)!;
        r.rates.push(result.requests.average);
        r.p50.push(result.latency.p50);
        r.p99.push(result.latency.p99);
        r.errors += result.errors + result.non2xx;
        r.requests += result.requests.total;
        r.service += (await cpuMilliseconds({ pid })) - before.service;
        r.postgres += (await cpuMilliseconds(postgres)) - before.postgres;
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
    servers.stop();
  }
}

/**
 * Statements and round trips to PostgreSQL per request of each route, counted on the wire:
 * both servers' app connections go through a counting proxy; one request at a time, 10
 * requests after 3 warm-up requests. Refused requests (non-2xx) are reported too.
 */
export async function httpWireCounts(service: Service, keys: readonly Key[], routes: readonly Route[] = ROUTES): Promise<Record<string, { statements: number; roundTrips: number; failed: number }>> {
  const target = new URL(service.appUrl);
  const counter = new ProtocolCounter({ host: target.hostname, port: Number(target.port || 5432) });
  target.hostname = '127.0.0.1';
  target.port = String(await counter.start());
  const servers = await startServers({ ...service, appUrl: target.toString() }, routes);
  try {
    const requestOf = await requests(keys);
    const counts: Record<string, { statements: number; roundTrips: number; failed: number }> = {};
    for (const route of routes) {
      let failed = 0;
      const send = async () => {
        const { method, path, headers, body } = requestOf(route) as { method: string; path: string; headers: Record<string, string>; body?: string };
        const response = await fetch(`http://127.0.0.1:${servers.serverOf(route).port}${path}`, { method, headers, body });
        await response.arrayBuffer();
        if (!response.ok) failed += 1;
      };
      for (let i = 0; i < 3; i++) await send();
      counter.take();
      failed = 0;
      for (let i = 0; i < 10; i++) await send();
      const taken = counter.take();
      counts[route] = { statements: taken.statements / 10, roundTrips: taken.roundTrips / 10, failed };
    }
    return counts;
  } finally {
    servers.stop();
    await counter.stop();
  }
}
