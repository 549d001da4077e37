import { isUuid, quoteLiteral } from '@rowguard/kernel';
import { HttpProblem } from '../http/problem.js';
import type { FieldDefinition, RecordType } from './record-schema.js';

/** One equality filter on a declared field, as SQL over record_values `v` and its bind value. */
export interface RecordFilter {
  sql: (param: string) => string;
  value: unknown;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

// The kind's column, and the kind as a literal: the partial index of that kind is then usable.
function condition(field: FieldDefinition, param: string): string {
  switch (field.kind) {
    case 'text':
      // A case-insensitive unique field is compared as its unique key, through the unique index.
      return field.case_insensitive ? `v.unique_key = lower(${param})` : `v.kind = 'text' and v.text_value = ${param}`;
    case 'number':
    case 'integer':
      return `v.kind in ('number', 'integer') and v.number_value = ${param}::numeric`;
    case 'boolean':
      return `v.kind = 'boolean' and v.bool_value = ${param}::boolean`;
    case 'date':
      return `v.kind = 'date' and v.date_value = ${param}::date`;
    case 'timestamp':
      return `v.kind = 'timestamp' and v.time_value = ${param}::timestamptz`;
    case 'reference':
      return `v.target_id = ${param}::uuid`;
  }
}

function parse(field: FieldDefinition, raw: string): unknown {
  const ok = {
    text: () => raw.length <= 500,
    number: () => raw.trim() !== '' && Number.isFinite(Number(raw)),
    integer: () => /^-?\d{1,30}$/.test(raw),
    boolean: () => raw === 'true' || raw === 'false',
    date: () => DATE.test(raw) && !Number.isNaN(Date.parse(`${raw}T00:00:00Z`)),
    timestamp: () => /^\d{4}-\d{2}-\d{2}T/.test(raw) && !Number.isNaN(Date.parse(raw)),
    reference: () => isUuid(raw),
  }[field.kind]();
  if (!ok) throw new HttpProblem('VALIDATION_FAILED', undefined, [{ field: `query.filter[${field.name}]`, message: `must be a ${field.kind} value` }]);
  return raw;
}

/**
 * The filters of a list request: every query parameter `filter[<field>]=<value>` names a
 * declared field of the type and a value of its kind (equality). Each becomes an EXISTS over
 * record_values, which the field's index answers; the statement binds the tenant as $1 and
 * the type as $2.
 */
export function recordFilters(type: RecordType, query: Record<string, string>): RecordFilter[] {
  const filters: RecordFilter[] = [];
  for (const [key, raw] of Object.entries(query)) {
    const match = /^filter\[(.*)\]$/.exec(key);
    if (!match) continue;
    const field = type.fields.find((f) => f.name === match[1]);
    if (!field) throw new HttpProblem('VALIDATION_FAILED', undefined, [{ field: `query.${key}`, message: `${type.name} has no declared field ${JSON.stringify(match[1]).slice(0, 80)}` }]);
    const value = parse(field, raw);
    filters.push({
      value,
      sql: (param) =>
        `exists (select 1 from record_values v where v.tenant_id = $1 and v.type = $2 and v.record_id = r.id and v.field = ${quoteLiteral(field.name)} and ${condition(field, param)})`,
    });
  }
  return filters;
}
