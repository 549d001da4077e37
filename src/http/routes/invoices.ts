import { z } from '@hono/zod-openapi';
import { HttpProblem } from '../problem.js';
import { defineResource } from '../resource.js';
import { date, id, name, timestamp, updatedSince } from '../schemas.js';

const status = z.enum(['draft', 'sent', 'paid', 'void']);
const lineInput = z.object({
  description: name(500),
  quantity: z.number().int().min(1).max(1_000_000),
  unit_amount: z.number().int().min(0).max(1_000_000_000_000).openapi({ description: 'Price per unit in minor units (cents)' }),
});
const line = lineInput.extend({ amount: z.number().int().openapi({ description: 'quantity × unit_amount, minor units' }) });

/** Allowed status changes; paid and void are final. */
const TRANSITIONS: Record<string, readonly string[]> = { draft: ['sent', 'void'], sent: ['paid', 'void'], paid: [], void: [] };

function priced(items: z.infer<typeof lineInput>[]) {
  const lines = items.map((item) => ({ ...item, amount: item.quantity * item.unit_amount }));
  const total = lines.reduce((sum, l) => sum + l.amount, 0);
  if (!Number.isSafeInteger(total)) throw new HttpProblem('AMOUNT_TOO_LARGE');
  return { line_items: JSON.stringify(lines), amount_total: total };
}

const editable = ['customer_name', 'customer_email', 'currency', 'line_items', 'due_date', 'number'];

export const invoices = defineResource({
  path: '/v1/invoices',
  table: 'invoices',
  entity: 'invoice',
  tag: 'Invoices',
  schema: z.object({
    id,
    number: z.string(),
    customer_name: z.string(),
    customer_email: z.string().nullable(),
    currency: z.string().openapi({ example: 'EUR' }),
    line_items: z.array(line),
    amount_total: z.number().int().openapi({ description: 'Sum of line amounts, minor units' }),
    status,
    due_date: date.nullable(),
    sent_at: timestamp.nullable(),
    paid_at: timestamp.nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  }),
  create: z.object({
    number: name(64),
    customer_name: name(),
    customer_email: z.string().email().max(320).nullable().optional(),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR'),
    line_items: z.array(lineInput).max(100),
    due_date: date.nullable().optional(),
  }),
  update: z.object({
    number: name(64).optional(),
    customer_name: name().optional(),
    customer_email: z.string().email().max(320).nullable().optional(),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR').optional(),
    line_items: z.array(lineInput).max(100).optional(),
    due_date: date.nullable().optional(),
    status: status.optional().openapi({ description: 'draft → sent → paid; draft or sent → void' }),
  }),
  filters: { status: { schema: status, sql: (p) => `status = ${p}` }, updated_since: updatedSince },
  read: 'read',
  write: 'write',
  deletable: true,
  // Status changes are events of their own: invoice.sent, invoice.paid, invoice.void.
  events: (action, before, after) =>
    action === 'updated' && before && after && before.status !== after.status ? ['invoice.updated', `invoice.${after.status}`] : [`invoice.${action}`],
  prepareCreate: (body) => ({
    values: { ...body, ...priced(body.line_items) },
  }),
  prepareUpdate: (body, current) => {
    const values: Record<string, unknown> = { ...body };
    const from = current.status;
    if (editable.some((field) => field in body) && from !== 'draft') {
      throw new HttpProblem('INVOICE_NOT_EDITABLE', `A ${from} invoice cannot be edited; only its status can change`);
    }
    if (body.line_items) Object.assign(values, priced(body.line_items));
    const to = body.status;
    if (to !== undefined && to !== from) {
      if (!TRANSITIONS[from]!.includes(to)) throw new HttpProblem('INVALID_TRANSITION', `An invoice cannot go from ${from} to ${to}`);
      if (to === 'sent') values.sent_at = new Date();
      if (to === 'paid') values.paid_at = new Date();
    }
    return values;
  },
  beforeDelete: (current) => {
    if (current.status !== 'draft') throw new HttpProblem('INVOICE_NOT_EDITABLE', 'Only draft invoices can be deleted; void it instead');
  },
});
