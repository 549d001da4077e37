import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** One field-level error: where in the request, and what is wrong with it. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * An error meant for the client, rendered as RFC 9457 problem+json with a stable `code`.
 * Throw it from any handler; anything else becomes a 500 with a request id.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
  ) {
    super(title);
    this.name = 'HttpProblem';
  }
}

export const notFound = () => new HttpProblem(404, 'NOT_FOUND', 'No such resource');

export function problemResponse(c: Context, problem: HttpProblem, extra: Record<string, unknown> = {}): Response {
  const { status, code, title, detail, errors } = problem;
  const body = { type: `urn:rowguard:problem:${code.toLowerCase().replace(/_/g, '-')}`, status, code, title, detail, errors, ...extra };
  return c.body(JSON.stringify(body), status, { 'content-type': 'application/problem+json' });
}
