import type pg from 'pg';
import { contextProof } from '../packages/kernel/src/db/context-proof.js';
import type { Kernel } from '../packages/kernel/src/db/kernel.js';

/** One row to aim at: a tenant, one of its projects, and that project's list position. */
export interface Key {
  tenant: string;
  id: string;
  createdAt: string;
}

export type Operation = 'get by id' | 'list 20 with cursor' | 'count' | 'insert' | 'update';
export const OPERATIONS: Operation[] = ['get by id', 'list 20 with cursor', 'count', 'insert', 'update'];

export type Variant = 'V0 floor' | 'V1 tenantQuery' | 'V1 signed' | 'V1 withTenant' | 'V2 four round trips';
export const VARIANTS: Variant[] = ['V0 floor', 'V1 tenantQuery', 'V1 signed', 'V1 withTenant', 'V2 four round trips'];

/** The scoped statement on projects_signed, whose policies require the context's proof. */
const signedTable = (text: string) => text.replace(/\bprojects\b/g, 'projects_signed');

const COLUMNS = 'id, name, status, created_at';

/** The statement of each operation, scoped by RLS (V1, V2) or by an explicit filter (V0). */
export const STATEMENTS: Record<Operation, { scoped: string; floor: string; values: (k: Key) => unknown[] }> = {
  'get by id': {
    scoped: `select ${COLUMNS} from projects where id = $1`,
    floor: `select ${COLUMNS} from projects_plain where tenant_id = $2 and id = $1`,
    values: (k) => [k.id],
  },
  'list 20 with cursor': {
    scoped: `select ${COLUMNS} from projects where (created_at, id) < ($1::timestamptz, $2::uuid) order by created_at desc, id desc limit 20`,
    floor: `select ${COLUMNS} from projects_plain where tenant_id = $3 and (created_at, id) < ($1::timestamptz, $2::uuid) order by created_at desc, id desc limit 20`,
    values: (k) => [k.createdAt, k.id],
  },
  count: {
    scoped: 'select count(*) from projects',
    floor: 'select count(*) from projects_plain where tenant_id = $1',
    values: () => [],
  },
  insert: {
    scoped: `insert into projects (tenant_id, name) values (nullif(current_setting('app.tenant_id', true), '')::uuid, $1) returning id`,
    floor: 'insert into projects_plain (tenant_id, name) values ($2, $1) returning id',
    values: () => ['bench'],
  },
  update: {
    scoped: 'update projects set name = $2 where id = $1',
    floor: 'update projects_plain set name = $2 where tenant_id = $3 and id = $1',
    values: (k) => [k.id, 'renamed'],
  },
};

/** One request of `operation` done the `variant` way. */
export function workload(
  variant: Variant,
  operation: Operation,
  { pool, kernel, signedKernel, contextKey }: { pool: pg.Pool; kernel: Kernel; signedKernel: Kernel; contextKey: Uint8Array | undefined },
): (key: Key) => Promise<unknown> {
  const { scoped, floor, values } = STATEMENTS[operation];
  const name = `bench_${OPERATIONS.indexOf(operation)}`;
  switch (variant) {
    case 'V0 floor':
      return (k) => pool.query({ name: `${name}_floor`, text: floor, values: [...values(k), k.tenant] });
    case 'V1 tenantQuery':
      return (k) => kernel.tenantQuery(k.tenant, scoped, values(k));
    case 'V1 signed':
      return (k) => signedKernel.tenantQuery(k.tenant, signedTable(scoped), values(k));
    case 'V1 withTenant':
      return (k) => kernel.withTenant(k.tenant, (tx) => tx.query(scoped, values(k)));
    case 'V2 four round trips':
      // What most libraries (and the seed walkthrough) do: four statements, four round trips.
      return async (k) => {
        const client = await pool.connect();
        try {
          await client.query('begin');
          await client.query({
            name: 'bench_set_config',
            text: "select set_config('app.tenant_id', $1, true), set_config('app.tenant_proof', $2, true)",
            values: [k.tenant, contextKey ? contextProof(contextKey, k.tenant) : ''],
          });
          await client.query({ name: `${name}_v2`, text: scoped, values: values(k) });
          await client.query('commit');
        } catch (error) {
          await client.query('rollback').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
      };
  }
}

/** Requests per second and latency samples of `run` at `concurrency` for `seconds`. */
export async function measure(run: (key: Key) => Promise<unknown>, keys: readonly Key[], concurrency: number, seconds: number): Promise<{ rate: number; latencies: number[] }> {
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      let i = worker * 7919;
      while (performance.now() < until) {
        const started = performance.now();
        await run(keys[i++ % keys.length]!);
        latencies.push(performance.now() - started);
        done++;
      }
    }),
  );
  return { rate: done / seconds, latencies };
}
