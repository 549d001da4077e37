import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import pg from 'pg';
import { benchDatabase, BENCH_ROLES } from './bench-database.js';
import { mintToken } from '../src/cli/mint-token.js';
const log = (l: string) => process.stderr.write(l + '\n');
const db = await benchDatabase({ tenants: 1000, rows: 100_000, log });
const owner = new pg.Client({ connectionString: db.ownerUrl }); await owner.connect();
const keys = (await owner.query(`select tenant_id::text as tenant, id::text from projects_plain order by random() limit 200`)).rows;
await owner.end();
const secret = 'bench-secret-'.padEnd(48, 'x');
const route = process.argv[2]!;
const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', '--import', '/tmp/prof/exit.mjs', '--import', 'tsx', 'bench/http-server.ts'], {
  env: { ...process.env, BENCH_APP_URL: db.appUrl, BENCH_OWNER_URL: db.ownerUrl, BENCH_SYSTEM_ROLE: BENCH_ROLES.systemRole, BENCH_JWT_SECRET: secret }, stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve) => child.stdout.on('data', (d) => /port (\d+)/.test(String(d)) && resolve(Number(/port (\d+)/.exec(String(d))![1]))));
const tokens = new Map<string, string>();
for (const k of keys) tokens.set(k.tenant, await mintToken({ secret, tenantId: k.tenant, userId: 'bench-user', tenantClaim: 'tid', ttl: '1h' }));
let i = 0;
for (const path of route.split(',')) {
  const r = await autocannon({ url: `http://127.0.0.1:${port}`, connections: 8, duration: Number(process.argv[3] ?? 8), requests: [{ setupRequest: (req) => { const k = keys[i++ % keys.length]; return { ...req, method: 'GET', path: path.replace(':id', k.id), headers: { authorization: `Bearer ${tokens.get(k.tenant)}` } }; } }] });
  log(`${path}: ${r.requests.average} req/s p50 ${r.latency.p50} non2xx ${r.non2xx}`);
}
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));
await db.close();
