import { z } from '@hono/zod-openapi';

/** RFC 9457 problem details, as every error response carries them. */
export const Problem = z
  .object({
    type: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: 'Stable machine-readable error code' }),
    title: z.string(),
    detail: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), pointer: z.string().optional().openapi({ description: 'JSON pointer (RFC 6901) into the body' }), message: z.string() })).optional(),
    requestId: z.string().optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: Problem } } });

const common = {
  401: problem('Missing or invalid credentials'),
  403: problem('Valid credentials without permission, or a suspended tenant'),
};

/** Error responses by kind of operation, for the OpenAPI document. */
export const problemSchemas = {
  read: { ...common, 400: problem('Invalid query parameters or cursor') },
  readOne: { ...common, 404: problem('No such object (also for other tenants’ ids)') },
  write: {
    ...common,
    400: problem('Malformed JSON or invalid fields'),
    409: problem('Conflicts with an existing object'),
    413: problem('Body over the size limit'),
    415: problem('Body is not JSON'),
    422: problem('References an object that does not exist, or breaks a rule'),
  },
  update: {
    ...common,
    400: problem('Malformed JSON or invalid fields'),
    404: problem('No such object (also for other tenants’ ids)'),
    409: problem('Conflicts with an existing object or rule'),
    412: problem('If-Match does not match the current version'),
    413: problem('Body over the size limit'),
    415: problem('Body is not JSON'),
    422: problem('References an object that does not exist, or breaks a rule'),
  },
};

export const id = z.string().uuid();
export const timestamp = z.string().datetime().openapi({ format: 'date-time' });
export const date = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date (YYYY-MM-DD)')
  // Runs even when the pattern failed: it must not throw on any string (an invalid Date's
  // toISOString() does).
  .refine((value) => {
    const day = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(day.getTime()) && day.toISOString().startsWith(value);
  }, 'is not a calendar date')
  .openapi({ format: 'date' });
export const name = (max = 200) => z.string().trim().min(1).max(max);

/** Shared list filter for updated_since. */
export const updatedSince = {
  schema: z.string().datetime({ offset: true }).openapi({ description: 'Only objects updated at or after this time' }),
  sql: (p: string) => `updated_at >= ${p}::timestamptz`,
};
