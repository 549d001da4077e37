import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { RE2 } from 're2-wasm';
import type { FieldError } from '../http/problem.js';
import { HttpProblem } from '../http/problem.js';

/** A declared field as the database holds it (record_fields). */
export interface FieldDefinition {
  name: string;
  kind: FieldKind;
  required: boolean;
  unique: boolean;
  case_insensitive: boolean;
  references: { type: string; on_delete: 'restrict' | 'cascade' } | null;
  deprecated: boolean;
}

export const FIELD_KINDS = ['text', 'number', 'integer', 'boolean', 'date', 'timestamp', 'reference'] as const;
export type FieldKind = (typeof FIELD_KINDS)[number];

/** A record type as the API reads it: its JSON Schema, fields and version. */
export interface RecordType {
  name: string;
  version: number;
  json_schema: Record<string, unknown>;
  fields: FieldDefinition[];
}

// What a tenant's JSON Schema and a record's data may hold: enough for real records, too
// little for a document built to exhaust the server (deep nesting, huge objects).
export const LIMITS = Object.freeze({ depth: 32, nodes: 10_000, schemaBytes: 65_536, dataBytes: 262_144, patternLength: 1_000 });

// Keywords that fetch or evaluate what the document does not contain.
const REFUSED_KEYWORDS = new Set(['$dynamicRef', '$dynamicAnchor', '$recursiveRef']);

/**
 * Refuses a JSON value nested deeper than LIMITS.depth or with more than LIMITS.nodes values,
 * before anything walks it recursively (the JSON Schema validator, the database). Iterative:
 * the check itself cannot run out of stack.
 */
export function checkShape(value: unknown, where: string, code: 'VALIDATION_FAILED' | 'SCHEMA_INVALID' = 'VALIDATION_FAILED'): void {
  const stack: [unknown, number][] = [[value, 1]];
  let nodes = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (++nodes > LIMITS.nodes) throw new HttpProblem(code, `${where} holds more than ${LIMITS.nodes} values`, [{ field: where, message: `more than ${LIMITS.nodes} values` }]);
    if (node === null || typeof node !== 'object') continue;
    if (depth > LIMITS.depth) throw new HttpProblem(code, `${where} is nested deeper than ${LIMITS.depth} levels`, [{ field: where, message: `nested deeper than ${LIMITS.depth} levels` }]);
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
}

// A tenant's `pattern` runs on every write: with JavaScript's backtracking RegExp, `^(a+)+$`
// takes 7.8 s on 29 characters. RE2 runs in time linear in the input (5 ms on 5,001); a
// pattern it does not support (backreferences, lookaround) fails when the type is defined.
const linearRegExp = (pattern: string, flags: string) => new RE2(pattern, flags.includes('u') ? flags : `${flags}u`);

function newAjv(): Ajv2020 {
  // strict: an unknown keyword in the schema is the tenant's mistake, told when the type is
  // defined, not silently ignored at every write.
  const ajv = new Ajv2020({ strict: true, strictTypes: false, strictTuples: false, allErrors: true, code: { regExp: linearRegExp as never } });
  // ajv-formats is CommonJS: its plugin is the module's default export.
  formats.default(ajv);
  return ajv;
}

const compiler = newAjv();

/**
 * The JSON Schema a type's records are validated with: the tenant's, and what its fields
 * declare, added to its allOf. The tenant's schema stays the root, so that its own references
 * (#/$defs/…) still resolve.
 */
export function effectiveSchema(type: Pick<RecordType, 'json_schema' | 'fields'>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const field of type.fields) properties[field.name] = fieldSchema(field);
  const required = type.fields.filter((f) => f.required).map((f) => f.name);
  const declared = { type: 'object', properties, ...(required.length ? { required } : {}) };
  const own = Array.isArray(type.json_schema.allOf) ? type.json_schema.allOf : [];
  return { ...type.json_schema, allOf: [...own, declared] };
}

/** A field's JSON Schema: its kind, as the database checks it. */
export function fieldSchema(field: Pick<FieldDefinition, 'kind' | 'deprecated' | 'references'>): Record<string, unknown> {
  const base: Record<string, unknown> = {
    text: { type: 'string', maxLength: 500 },
    number: { type: 'number' },
    integer: { type: 'integer' },
    boolean: { type: 'boolean' },
    date: { type: 'string', format: 'date' },
    timestamp: { type: 'string', format: 'date-time' },
    reference: { type: 'string', format: 'uuid', description: `The id of a ${field.references?.type} record` },
  }[field.kind] as Record<string, unknown>;
  return field.deprecated ? { ...base, deprecated: true } : base;
}

/**
 * Checks a tenant's JSON Schema when a type is defined or changed: size, shape, no keyword
 * that reaches outside the document, no long regular expression, and that it compiles.
 * Returns nothing; throws a 422 with the JSON pointer of what is wrong.
 */
export function checkJsonSchema(schema: unknown): void {
  checkShape(schema, 'body.json_schema', 'SCHEMA_INVALID');
  if (JSON.stringify(schema).length > LIMITS.schemaBytes) throw new HttpProblem('SCHEMA_INVALID', `The JSON Schema is larger than ${LIMITS.schemaBytes} bytes`, [{ field: 'body.json_schema', message: 'too large' }]);
  const refused = findRefused(schema, '');
  if (refused) throw new HttpProblem('SCHEMA_INVALID', refused.message, [{ field: 'body.json_schema', pointer: `/json_schema${refused.pointer}`, message: refused.message }]);
  try {
    newAjv().compile(schema as object);
  } catch (error) {
    throw new HttpProblem('SCHEMA_INVALID', 'The JSON Schema does not compile (draft 2020-12)', [{ field: 'body.json_schema', pointer: '/json_schema', message: (error as Error).message.slice(0, 300) }]);
  }
}

function findRefused(node: unknown, pointer: string): { pointer: string; message: string } | null {
  if (node === null || typeof node !== 'object') return null;
  for (const [key, child] of Object.entries(node)) {
    const here = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (REFUSED_KEYWORDS.has(key)) return { pointer: here, message: `${key} is not supported` };
    if (key === '$ref' && typeof child === 'string' && !child.startsWith('#')) return { pointer: here, message: 'only references inside the schema (#…) are supported' };
    if (key === '$id' && typeof child === 'string') return { pointer: here, message: '$id is not supported: a type’s schema is identified by the type' };
    if (key === 'pattern' && typeof child === 'string' && child.length > LIMITS.patternLength) return { pointer: here, message: `patterns are limited to ${LIMITS.patternLength} characters` };
    if (key === 'patternProperties' && child && typeof child === 'object' && Object.keys(child).some((p) => p.length > LIMITS.patternLength)) {
      return { pointer: here, message: `patterns are limited to ${LIMITS.patternLength} characters` };
    }
    const found = findRefused(child, here);
    if (found) return found;
  }
  return null;
}

// Compiled validators by tenant, type and version: a version never changes, so an entry never
// goes stale; the oldest go first when there are too many.
const validators = new Map<string, ValidateFunction & { schema: object }>();
const MAX_VALIDATORS = 500;

/** Validates a record's data against its type; throws RECORD_INVALID with a JSON pointer per error. */
export function validateRecordData(tenantId: string, type: RecordType, data: unknown): void {
  checkShape(data, 'body.data');
  if (JSON.stringify(data).length > LIMITS.dataBytes) throw new HttpProblem('PAYLOAD_TOO_LARGE', `A record's data is limited to ${LIMITS.dataBytes} bytes`);
  const key = `${tenantId}/${type.name}/${type.version}`;
  let validate = validators.get(key);
  if (!validate) {
    const schema = effectiveSchema(type);
    validate = Object.assign(compiler.compile(schema), { schema });
    if (validators.size >= MAX_VALIDATORS) {
      const [oldest, evicted] = validators.entries().next().value!;
      compiler.removeSchema(evicted.schema);
      validators.delete(oldest);
    }
    validators.set(key, validate);
  }
  if (!validate(data)) throw new HttpProblem('RECORD_INVALID', `The data does not match the ${type.name} schema`, schemaErrors(validate.errors ?? []));
}

function schemaErrors(errors: ErrorObject[]): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    // A missing required property is reported at its parent; point at the property itself.
    const pointer = `/data${error.instancePath}${error.keyword === 'required' ? `/${String(error.params.missingProperty)}` : ''}`;
    const message = error.message ?? 'is invalid';
    if (seen.has(pointer + message)) continue;
    seen.add(pointer + message);
    out.push({ field: `body${pointer.replace(/\//g, '.')}`, pointer, message });
    if (out.length === 50) break;
  }
  return out;
}
