import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** RFC 9457 problem details with a stable machine-readable `code`. */
export interface Problem {
  status: ContentfulStatusCode;
  code: string;
  title: string;
  detail?: string;
  [extension: string]: unknown;
}

export function problemResponse(c: Context, { status, code, title, ...rest }: Problem): Response {
  return c.body(JSON.stringify({ type: `urn:rowguard:problem:${code.toLowerCase()}`, status, code, title, ...rest }), status, {
    'content-type': 'application/problem+json',
  });
}
