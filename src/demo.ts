import type { Kernel } from '@rowguard/kernel';
import { recordChangeIn } from './http/record-change.js';

export interface DemoTenant {
  id: string;
  name: string;
  owner: string;
}

const TENANTS = [
  { name: 'Acme (demo)', owner: 'alice', email: 'alice@acme.example', projects: ['Website relaunch', 'Mobile app'] },
  { name: 'Globex (demo)', owner: 'bob', email: 'bob@globex.example', projects: ['Quarterly audit'] },
];

/**
 * Two demo tenants with an owner, a member, projects, tasks and an invoice each, created as
 * the system role. Running it again reuses the tenants it made before.
 */
export async function seedDemo(kernel: Kernel): Promise<DemoTenant[]> {
  return kernel.asSystem(async (tx) => {
    const made: DemoTenant[] = [];
    for (const spec of TENANTS) {
      const existing = await tx.query<{ id: string }>('select id from tenants where name = $1', [spec.name]);
      if (existing.rows[0]) {
        made.push({ id: existing.rows[0].id, name: spec.name, owner: spec.owner });
        continue;
      }
      const { id } = (await tx.query<{ id: string }>('insert into tenants (name) values ($1) returning id', [spec.name])).rows[0]!;
      const owner = (
        await tx.query<{ id: string }>(
          `insert into team_members (tenant_id, user_id, email, display_name, role) values ($1, $2, $3, $2, 'owner') returning id`,
          [id, spec.owner, spec.email],
        )
      ).rows[0]!.id;
      await tx.query(`insert into team_members (tenant_id, user_id, email, role) values ($1, $2, $3, 'member')`, [id, `${spec.owner}-colleague`, `colleague@${spec.email.split('@')[1]}`]);
      for (const name of spec.projects) {
        const project = (await tx.query<{ id: string }>('insert into projects (tenant_id, name, created_by) values ($1, $2, $3) returning id', [id, name, owner])).rows[0]!.id;
        await tx.query(
          `insert into tasks (tenant_id, project_id, title, status, assignee_id) values ($1, $2, 'Kick-off', 'done', $3), ($1, $2, 'First milestone', 'in_progress', $3)`,
          [id, project, owner],
        );
      }
      await tx.query(
        `insert into invoices (tenant_id, number, customer_name, currency, line_items, amount_total) values ($1, 'INV-0001', 'First customer', 'EUR', $2, 250000)`,
        [id, JSON.stringify([{ description: 'Consulting', quantity: 10, unit_amount: 25000, amount: 250000 }])],
      );
      await recordChangeIn(tx, { tenantId: id, actor: 'admin', requestId: null }, { action: 'tenant.created', entityType: 'tenant', entityId: id, changes: { name: spec.name } });
      made.push({ id, name: spec.name, owner: spec.owner });
    }
    return made;
  });
}

/** Ready-to-paste commands for each demo tenant. */
export function demoInstructions(url: string, tenants: { tenant: DemoTenant; token: string }[]): string {
  const lines = ['', 'Demo tenants (tokens valid 24 h; mint more with: npx rowguard token --tenant <id> --user <id>):'];
  for (const { tenant, token } of tenants) {
    const variable = tenant.owner.toUpperCase();
    lines.push(
      '',
      `# ${tenant.name}: tenant ${tenant.id}, owner "${tenant.owner}"`,
      `${variable}=${token}`,
      `curl -s ${url}/v1/projects -H "authorization: Bearer $${variable}"`,
      `curl -s -X POST ${url}/v1/projects -H "authorization: Bearer $${variable}" -H 'content-type: application/json' -d '{"name":"Created by ${tenant.owner}"}'`,
    );
  }
  lines.push('', `API docs: ${url}/docs`, '');
  return lines.join('\n');
}
