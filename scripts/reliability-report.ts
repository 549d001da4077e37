// Writes RELIABILITY.md from the figures the reliability tests recorded in
// reliability/last-run/*.json (npm run soak, or npm run reliability for the short versions).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem, type } from 'node:os';

const DIR = 'reliability/last-run';
const runs: Record<string, any>[] = [];
for (const file of (await readdir(DIR)).filter((f) => f.endsWith('.json')).sort()) runs.push(JSON.parse(await readFile(`${DIR}/${file}`, 'utf8')));
if (runs.length === 0) {
  console.error(`no figures in ${DIR}: run npm run soak first`);
  process.exit(1);
}
const by = (name: string) => runs.find((r) => r.name === name);
const sum = (key: string) => runs.reduce((n, r) => n + (typeof r[key] === 'number' ? r[key] : 0), 0);
const statuses = (s: Record<string, number> = {}) => Object.entries(s).map(([k, v]) => `${k}: ${v.toLocaleString('en-US')}`).join(', ');
const soak = runs.every((r) => r.soak);
const leak = by('leak, direct');
const bouncer = by('leak, PgBouncer transaction mode');
const killed = by('fault, pg_terminate_backend');
const restart = by('fault, PostgreSQL restart');
const five = by('fault, five processes migrating together');
const fuzz = by('fuzz, every endpoint');
const fairness = by('webhooks, fairness');
const flooding = by('fairness, one tenant flooding');
const oneTenant = by('webhooks, throughput, one tenant');
const tenTenants = by('webhooks, throughput, ten tenants');
const scaleOut = by('citus, scale-out under load');
const n = (value: unknown) => (typeof value === 'number' ? value.toLocaleString('en-US') : '—');
const row = (what: string, r: any) =>
  r
    ? `| ${what} | ${n(r.requests)} | ${n(r.tenants)} | ${n(r.leaks)} | ${n(r.serverErrors)}${r.requestsGiven503 ? ` (and ${n(r.requestsGiven503)} × 503 while the fault lasted)` : ''} | ${n(r.acknowledgedWrites)} | ${n(r.lostWrites)} |`
    : `| ${what} | not run | | | | | |`;

const lines = [
  '# Reliability',
  '',
  `Figures from the last \`npm run ${soak ? 'soak' : 'reliability'}\` on ${runs[0]!.at.slice(0, 10)} (${type()}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}); the raw figures are in \`${DIR}/\`. Regenerate with \`npm run soak\` (long versions, about 8 minutes on two cores) or \`npm run reliability\` (the short versions that \`npm test\` runs).`,
  '',
  `In all: **${sum('requests').toLocaleString('en-US')} requests**, **${sum('leaks')} foreign rows seen**, **${sum('lostWrites')} acknowledged writes lost**, ${sum('rowsVerified').toLocaleString('en-US')} rows compared with the database through a superuser connection afterwards.`,
  '',
  '| test | requests | tenants | foreign rows | 5xx | acknowledged writes | lost |',
  '|---|---|---|---|---|---|---|',
  row('leak test, app pool of 3, direct', leak),
  row('leak test, through PgBouncer 1.18 in transaction mode', bouncer),
  row('app connections killed during load', killed),
  row('PostgreSQL stopped and restarted during load', restart),
  row('fuzzing every endpoint', fuzz),
  row('Citus: a node added, shards rebalanced, the biggest tenant isolated, during load', scaleOut),
  '',
  '## What each one does',
  '',
  `- **Leak test** (\`test/reliability/leak.test.ts\`): ${leak?.requests?.toLocaleString('en-US') ?? 'N'} mixed requests from ${leak?.tenants ?? 100} tenants, ${leak?.concurrency ?? 32} at a time, through the running service over HTTP with an app pool of ${leak?.appPoolSize ?? 3} connections: creates (some replayed with the same Idempotency-Key), reads, lists, renames, deletes, task writes, tenant-defined records (contacts whose email is unique per tenant, another tenant's email taken freely, the tenant's own in another case refused with 409, lookups by email, notes referring to contacts), and requests that must fail (another tenant's ids in paths and references, a note referring to another tenant's contact, invalid bodies, bad tokens). Every response is checked against a model of what the asking tenant owns; afterwards every acknowledged write is compared with the database. Statuses: ${statuses(leak?.byStatus)}. Through PgBouncer: ${statuses(bouncer?.byStatus)}.`,
  `- **Connections killed** (\`test/reliability/faults.test.ts\`): every app connection terminated with \`pg_terminate_backend\` every 20 ms during load (${n(killed?.backendsTerminated)} backends terminated). ${n(killed?.requestsGiven503)} requests got 503 \`DATABASE_UNAVAILABLE\` as problem+json, ${n(killed?.serverErrors)} another 5xx; then clean traffic succeeds. A request blocked on a row lock whose connection is killed gets 503 and the row is unchanged.`,
  `- **PostgreSQL restart**: the server is stopped during load and started again on the same port; \`/readyz\` answers 503 while it is down and 200 again without restarting the service. ${n(restart?.requestsGiven503)} requests got 503 during the outage, ${n(restart?.serverErrors)} another 5xx, and no write acknowledged before, during or after it was lost.`,
  `- **Five processes on an empty database**: five \`rowguard serve\` processes start together; ${five ? `${five.migrationsApplied} migration applications were logged for ${five.migrations} migrations` : 'each migration is applied once'}, and all five serve.`,
  '- **Timeouts** (`test/timeouts.test.ts`): a statement past `ROWGUARD_STATEMENT_TIMEOUT` ends with 503 `TIMEOUT`, a lock wait past `ROWGUARD_LOCK_TIMEOUT` with 503 `LOCK_TIMEOUT`; the connection serves the next request.',
  '- **Killed webhook worker** (`test/jobs/webhooks.test.ts`): a worker process killed with SIGKILL mid-delivery; another delivers the event later with the same `webhook-id`.',
  `- **Fuzzing** (\`test/reliability/fuzz.test.ts\`, fast-check): ${fuzz?.requests?.toLocaleString('en-US') ?? 'N'} generated requests over all ${fuzz?.operations ?? ''} documented operations — bodies (JSON of every shape, 100,000-deep nesting, malformed UTF-8, NUL bytes, 1e400 and 400-digit numbers, oversized), query strings, path parameters (broken percent-escapes, another tenant's ids), headers and tokens (tampered, \`alg: none\`, crossed); plus raw bytes over a socket. No 5xx, no stack trace or SQL in any answer, none of the other tenant's ids or names. Statuses: ${statuses(fuzz?.byStatus)}.`,
  '',
  '## One tenant flooding slow requests',
  '',
  `From \`test/reliability/fairness.test.ts\`: the running service with an app pool of ${n(flooding?.appPoolSize)} and ${n(flooding?.tenantMaxConnections)} connections per tenant (\`ROWGUARD_TENANT_MAX_CONNECTIONS\`, a third of the pool), a 1 s tenant queue. Tenant A sends ${n(flooding?.floodRequests)} PATCHes at once to a project whose row another session holds locked for ${n(flooding?.floodSeconds)} s, so each would hold a connection while it waits; meanwhile tenant B creates and lists projects one request after another.`,
  '',
  '| figure | value |',
  '|---|---|',
  `| B's requests, all answered 200/201 | ${n(flooding?.bystanderRequests)} |`,
  `| B's latency p50 / p99 / longest | ${n(flooding?.bystanderP50Ms)} ms / ${n(flooding?.bystanderP99Ms)} ms / ${n(flooding?.bystanderMaxMs)} ms |`,
  `| A's requests answered 429 \`TENANT_BUSY\` with \`Retry-After\` / served once the lock was gone | ${n(flooding?.flooderBusy)} / ${n(flooding?.flooderServed)} |`,
  '',
  'Without the cap (`ROWGUARD_TENANT_MAX_CONNECTIONS` equal to the pool), A\'s waiting requests take every connection and B\'s requests fail with 503 after the pool\'s 5 s connect timeout.',
  '',
  '## Webhook delivery under a slow receiver and a flood',
  '',
  `From \`test/reliability/webhook-fairness.test.ts\`, one worker process with its default settings (32 delivery slots, 4 per tenant, polling every 2 s) and a ${n(fairness?.deadlineMs)} ms delivery deadline. Tenant A's endpoint answers 200 and then sends one byte every 500 ms, never finishing (${n(fairness?.dribblingDeliveries)} deliveries); tenant B makes ${n(fairness?.floodEvents)} writes with a \`*\` webhook to a host that accepts connections and never answers; then tenant C makes one write.`,
  '',
  '| figure | value |',
  '|---|---|',
  `| C's first delivery attempt after its write (bound ${n(fairness?.bystanderBoundMs)} ms) | ${n(fairness?.bystanderLatencyMs)} ms |`,
  `| A's connections, open when C wrote / most at once | ${n(fairness?.dribblingConnectionsOpenWhenSent)} / ${n(fairness?.dribblingConnectionsMostAtOnce)} |`,
  `| B's connections, open when C wrote / most at once | ${n(fairness?.darkHostConnectionsOpenWhenSent)} / ${n(fairness?.darkHostConnectionsMostAtOnce)} |`,
  `| how long each of A's connections stayed open (receiver's clock), median / longest | ${n(fairness?.dribblingConnectionMedianMs)} ms / ${n(fairness?.dribblingConnectionMaxMs)} ms |`,
  `| attempts per minute, fast receiver, ${n(oneTenant?.deliveries)} deliveries of one tenant (from worker start / steady) | ${n(oneTenant?.attemptsPerMinute)} / ${n(oneTenant?.steadyAttemptsPerMinute)} |`,
  `| attempts per minute, fast receiver, ${n(tenTenants?.deliveries)} deliveries of ${n(tenTenants?.tenants)} tenants (from worker start / steady) | ${n(tenTenants?.attemptsPerMinute)} / ${n(tenTenants?.steadyAttemptsPerMinute)} |`,
  '',
  'Before these fixes: about 120 attempts per minute for all tenants together (4 pollers, one job each per 2 s), whatever the receiver; the dribbling receiver held a delivery, and its socket, for as long as it kept dribbling; C\'s delivery made no attempt within 30 s (5 minutes in the original report).',
  '',
  '## Scale-out on Citus while serving',
  '',
  `From \`test/citus/scale-out.test.ts\` (run by \`npm run reliability\` when a Citus cluster is configured, as in CI): the service under mixed load (create, list, get by id; 6 clients, ${n(scaleOut?.tenants)} tenants, one of them sending half of the requests) while a third worker joins the cluster (\`citus_add_node\`), the shards are rebalanced onto it (\`citus_rebalance_start\`, ${n(scaleOut?.placementsOnNewNode)} shard placements moved there) and the biggest tenant is isolated to shards of its own (\`isolate_tenant_to_new_shard\`), both with \`shard_transfer_mode => 'block_writes'\`, then the restrictive policies put back on the new shards by the worker's scheduled repair (\`repairMovedShards\`, every minute). ${n(scaleOut?.requests)} requests in ${n(scaleOut?.seconds)} s: ${n(scaleOut?.leaks)} foreign rows seen, ${n(scaleOut?.serverErrors)} 5xx, ${n(scaleOut?.lostWrites)} of ${n(scaleOut?.acknowledgedWrites)} acknowledged writes lost. Answers other than 2xx: ${statuses(scaleOut?.failures) || 'none'} (a 409 \`CONCURRENT_CHANGE\` is a deadlock Citus broke while writes waited for a moving shard; the write was not made and may be retried).`,
  '',
  '## Found and fixed by this suite',
  '',
  '- A connection dropped by the server while checked out (between two statements of a request) made node-postgres throw at the top level and ended the process; every pooled connection now has an error listener for its whole life (`packages/kernel/src/db/pool.ts`).',
  '- Several processes starting together on a fresh database deadlocked in the job queue\'s set-up (pg-boss creates each queue\'s partition with DDL on one shared table); queue set-up is now serialized by an advisory lock (`src/jobs/worker.ts`).',
  '- Webhook deliveries had an idle timeout only (a receiver sending a byte a second held a delivery for ever), were capped at about 120 attempts a minute for all tenants together, and were handed out first come, first served, so one tenant\'s slow endpoint or backlog stopped everyone\'s deliveries; attempts now have one deadline, slots are filled as they free up, and a tenant holds at most its share of them (`src/webhooks/post-json.ts`, `src/jobs/job-dispatcher.ts`, `src/jobs/fair-fetch.ts`).',
  '- A webhook deleted while the outbox relay was creating its deliveries failed the relay\'s foreign-key check and rolled back the batch, events of every tenant; the relay now locks the endpoints it delivers to and leaves an event whose endpoint is being changed or deleted for its next run (`src/jobs/outbox-relay.ts`, `test/jobs/relay-races.test.ts`).',
  '- One tenant could hold every pooled connection (requests waiting on a lock, or on DNS inside a webhook registration), so every other tenant got 503; webhook DNS now runs before the transaction, transactions carry an idle-in-transaction timeout, and a tenant holds at most its share of the pool (`packages/kernel/src/db/tenant-limiter.ts`, `test/reliability/fairness.test.ts`).',
  '- A `due_date` such as `\' or \'1\'=\'1` made date validation throw, a 500; it is now a 400 (`src/http/schemas.ts`).',
  '- The embedded PostgreSQL package\'s exit hooks forced exit code 0 on a process that was ending with a failure (and threw on a normal exit once that was removed); Rowguard removes all of them and stops its cluster itself (`packages/testing/src/embedded/embedded-postgres.ts`).',
  '',
  '## Reproduce',
  '',
  '```sh',
  'npm ci',
  'apt-get install pgbouncer   # Debian; the PgBouncer leak test needs it (.ci/run installs it)',
  'npm run soak                # long versions, writes reliability/last-run/ and this file',
  'npm run reliability         # the short versions, as npm test runs them',
  '```',
  '',
  'A failing run prints the seed-determined requests that failed; `ROWGUARD_FUZZ_SEED` replays a fuzzing run.',
  '',
];
await writeFile('RELIABILITY.md', lines.join('\n'));
console.error('wrote RELIABILITY.md');
