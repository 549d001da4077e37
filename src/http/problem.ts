import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Every problem the API answers with, by its stable code: the HTTP status and the title. A
 * title is the same for every occurrence of its code (RFC 9457); what differs from one
 * occurrence to the next goes in `detail` and `errors`. The README's error list is this table
 * (a test holds them together).
 */
export const PROBLEMS = {
  VALIDATION_FAILED: [400, 'The request is not valid'],
  MALFORMED_JSON: [400, 'The body is not valid JSON'],
  INVALID_CURSOR: [400, 'The cursor is not one this API returned'],
  INVALID_IF_MATCH: [400, 'If-Match must be an ETag this API returned'],
  INVALID_IDEMPOTENCY_KEY: [400, 'Idempotency-Key must be 1–255 visible ASCII characters'],
  INVALID_VALUE: [400, 'A value is out of range or malformed'],
  BAD_REQUEST: [400, 'The request is not valid HTTP for this API'],
  UNAUTHENTICATED: [401, 'The credentials are missing or invalid'],
  FORBIDDEN: [403, 'This action needs a permission the caller does not have'],
  NOT_A_MEMBER: [403, 'The caller is not an active member of this tenant'],
  TENANT_SUSPENDED: [403, 'This tenant is suspended'],
  NOT_FOUND: [404, 'No such resource'],
  CONFLICT: [409, 'An object with the same unique value exists'],
  LAST_OWNER: [409, 'The last owner cannot be removed or demoted; make someone else owner first'],
  INVALID_TRANSITION: [409, 'The object cannot make this status change'],
  INVOICE_NOT_EDITABLE: [409, 'Only a draft invoice can be edited or deleted'],
  CONCURRENT_CHANGE: [409, 'A concurrent request changed the same data; retry'],
  IDEMPOTENCY_KEY_IN_USE: [409, 'A request with this Idempotency-Key is still running; retry later'],
  IDEMPOTENT_SECRET_NOT_REPLAYED: [409, 'This request already succeeded; the secret it returned is shown only once and was not stored'],
  ENDPOINT_DISABLED: [409, 'Enable the endpoint before testing it'],
  NOT_FAILED: [409, 'Only failed deliveries can be retried'],
  RECORD_REFERENCED: [409, 'Another record refers to this record; delete or change it first'],
  RECORD_TYPE_IN_USE: [409, 'The record type has records or is referenced by another type'],
  TYPE_CHANGE_CONFLICTS: [409, 'Existing records break this change to the record type'],
  ALREADY_ACTIVE: [409, 'The tenant is already active'],
  ALREADY_SUSPENDED: [409, 'The tenant is already suspended'],
  VERSION_MISMATCH: [412, 'The object changed since you read it; read it again'],
  PAYLOAD_TOO_LARGE: [413, 'The body is too large'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'Send the body as application/json'],
  REFERENCE_NOT_FOUND: [422, 'A referenced object does not exist'],
  IDEMPOTENCY_KEY_REUSED: [422, 'This Idempotency-Key was used for a different request'],
  DESTINATION_NOT_ALLOWED: [422, 'The webhook URL is not an allowed destination'],
  CONSTRAINT_VIOLATION: [422, 'The values break a rule of this resource'],
  RECORD_INVALID: [422, 'The record does not match its type'],
  SCHEMA_INVALID: [422, 'The record type definition is not valid'],
  AMOUNT_TOO_LARGE: [422, 'The invoice total is too large'],
  TENANT_BUSY: [429, 'This tenant has too many requests in progress; retry after the time in Retry-After'],
  INTERNAL: [500, 'Internal error; quote the request id when reporting it'],
  DATABASE_UNAVAILABLE: [503, 'The database is not reachable; retry later'],
  TIMEOUT: [503, 'The request took too long; retry later'],
  LOCK_TIMEOUT: [503, 'The data is locked by another operation; retry later'],
  NOT_READY: [503, 'The database is not reachable or its migrations are not current'],
} as const satisfies Record<string, readonly [ContentfulStatusCode, string]>;

export type ProblemCode = keyof typeof PROBLEMS;

/** One field-level error: where in the request, and what is wrong with it. */
export interface FieldError {
  field: string;
  /** The JSON pointer of the value in the body (RFC 6901), where one applies. */
  pointer?: string;
  message: string;
}

/**
 * An error meant for the client, rendered as RFC 9457 problem+json: its code's status and
 * title from PROBLEMS, and what is particular to this occurrence in `detail` and `errors`.
 * Throw it from any handler; anything else becomes a 500 with a request id.
 */
export class HttpProblem extends Error {
  readonly status: ContentfulStatusCode;
  readonly title: string;

  constructor(
    readonly code: ProblemCode,
    readonly detail?: string,
    readonly errors?: FieldError[],
  ) {
    const [status, title] = PROBLEMS[code];
    super(title);
    this.name = 'HttpProblem';
    this.status = status;
    this.title = title;
  }
}

export const notFound = () => new HttpProblem('NOT_FOUND');

/** The problem+json body of a problem. */
export function problemBody({ status, code, title, detail, errors }: HttpProblem, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: `urn:rowguard:problem:${code.toLowerCase().replace(/_/g, '-')}`, status, code, title, detail, errors, ...extra });
}

export function problemResponse(c: Context, problem: HttpProblem, extra: Record<string, unknown> = {}): Response {
  return c.body(problemBody(problem, extra), problem.status, { 'content-type': 'application/problem+json' });
}
