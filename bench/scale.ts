import pg from 'pg';
import { contextProof, readContextKey } from '../packages/kernel/src/db/context-proof.js';
import type { Kernel } from '../packages/kernel/src/db/kernel.js';
import { quantile, summarize } from './statistics.js';

export interface ScalePoint {
  rows: number;
  p50: number;
  p99: number;
}

export interface ScaleResult {
  smallTenantRows: number;
  /** The small tenant's list latency at 1×, 2×, 5× and 10× the starting rows. */
  points: ScalePoint[];
  /** p50 at 10× over p50 at 1×. */
  ratio: number;
  plans: { query: string; nodes: string[]; seqScanOnProjects: boolean }[];
}

const LIST = 'select id, name, status, created_at from projects order by created_at desc, id desc limit 20';

async function latency(kernel: Kernel, tenant: string, seconds: number, rounds: number) {
  const p50s: number[] = [];
  const p99s: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const samples: number[] = [];
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      const started = performance.now();
      await kernel.tenantQuery(tenant, LIST);
      samples.push(performance.now() - started);
    }
    p50s.push(quantile(samples, 0.5));
    p99s.push(quantile(samples, 0.99));
  }
  return { p50: summarize(p50s).median, p99: summarize(p99s).median };
}

function nodes(plan: { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: unknown[] }): string[] {
  const own = `${plan['Node Type']}${plan['Index Name'] ? ` using ${plan['Index Name']}` : plan['Relation Name'] ? ` on ${plan['Relation Name']}` : ''}`;
  return [own, ...((plan.Plans ?? []) as (typeof plan)[]).flatMap(nodes)];
}

/**
 * A small tenant's list latency as the table grows to 2×, 5× and 10× with other tenants' rows
 * (the big one keeping its 15 %); and the plan of every workload query
 * as the app role under the small tenant's context.
 */
export async function scaleBenchmark(
  { ownerUrl, appUrl, systemRole, kernel }: { ownerUrl: string; appUrl: string; systemRole: string; kernel: Kernel },
  { seconds, rounds, log, statements }: { seconds: number; rounds: number; log: (line: string) => void; statements: Record<string, { text: string; values: unknown[] }> },
): Promise<ScaleResult> {
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  const contextKey = await readContextKey(owner);
  await owner.query(`set role ${systemRole}`);
  const { rows: tenants } = await owner.query<{ id: string; n: number }>('select tenant_id as id, count(*)::int as n from projects group by 1 order by 2 desc');
  const big = tenants[0]!;
  const small = tenants[tenants.length - 1]!;
  const count = async () => Number((await owner.query<{ n: string }>('select count(*) as n from projects')).rows[0]!.n);
  const start = await count();
  log(`scale: small tenant with ${small.n} rows, ${start.toLocaleString('en-US')} rows in all`);
  const points: ScalePoint[] = [{ rows: start, ...(await latency(kernel, small.id, seconds, rounds)) }];
  for (const multiple of [2, 5, 10]) {
    // Other tenants' rows, the big one keeping its 15 %; the small tenant gets none.
    const added = start * multiple - points[points.length - 1]!.rows;
    log(`scale: adding ${added.toLocaleString('en-US')} rows of other tenants…`);
    await owner.query(`insert into projects (tenant_id, name, created_at) select $1, 'grown', now() - g * interval '1 ms' from generate_series(1, $2) g`, [big.id, Math.round(added * 0.15)]);
    await owner.query(
      `insert into projects (tenant_id, name, created_at)
       select t.id, 'grown', now() - g * interval '1 ms' from unnest($1::uuid[]) t(id), generate_series(1, $2) g`,
      [tenants.slice(1, -1).map((t) => t.id), Math.round((added * 0.85) / (tenants.length - 2))],
    );
    // The system role bypasses row-level security to insert; the owner analyzes.
    await owner.query(`reset role; analyze projects; set role ${systemRole}`);
    points.push({ rows: await count(), ...(await latency(kernel, small.id, seconds, rounds)) });
  }
  await owner.query('reset role');
  await owner.end();

  const app = new pg.Client({ connectionString: appUrl });
  await app.connect();
  const plans: ScaleResult['plans'] = [];
  for (const [query, { text, values }] of Object.entries(statements)) {
    await app.query('begin');
    await app.query(`select set_config('app.tenant_id', $1, true), set_config('app.tenant_proof', $2, true)`, [small.id, contextKey ? contextProof(contextKey, small.id) : '']);
    const { rows: explained } = await app.query(`explain (format json) ${text}`, values);
    await app.query('rollback');
    const list = nodes(explained[0]['QUERY PLAN'][0].Plan);
    plans.push({ query, nodes: list, seqScanOnProjects: list.some((n) => n === 'Seq Scan on projects') });
  }
  await app.end();
  return { smallTenantRows: small.n, points, ratio: points[points.length - 1]!.p50 / points[0]!.p50, plans };
}
