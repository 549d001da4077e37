import { z } from '@hono/zod-openapi';
import { generateApiKey } from '../auth/api-key.js';
import { defineResource } from '../resource.js';
import { id, name, timestamp } from '../schemas.js';

const scope = z.enum(['read', 'write']);

const schema = z.object({
  id,
  name: z.string(),
  prefix: z.string().openapi({ description: 'First characters of the key, to tell keys apart' }),
  scopes: z.array(scope),
  created_by: id.nullable(),
  last_used_at: timestamp.nullable(),
  expires_at: timestamp.nullable(),
  revoked_at: timestamp.nullable(),
  created_at: timestamp,
  updated_at: timestamp,
});

export const apiKeys = defineResource({
  path: '/v1/api-keys',
  table: 'api_keys',
  entity: 'api_key',
  tag: 'API keys',
  schema,
  createdSchema: schema.extend({ key: z.string().openapi({ description: 'The key itself. Shown only in this response; only its hash is stored.' }) }),
  create: z.object({
    name: name(),
    scopes: z.array(scope).min(1).max(2).openapi({ description: '["read"] or ["read", "write"]' }),
    expires_at: z.string().datetime({ offset: true }).nullable().optional(),
  }),
  update: z.object({ name: name().optional() }),
  read: 'manage',
  write: 'manage',
  deletable: true,
  events: (action) => [`api_key.${action === 'deleted' ? 'revoked' : action}`],
  // Revoked keys stay listed, with revoked_at, so the audit trail keeps its subject.
  deleteSql: 'update api_keys set revoked_at = now() where tenant_id = $1 and id = $2 and revoked_at is null',
  // created_by is the entered member, filled by the database (migration 0014).
  prepareCreate: (body, scope) => {
    const { key, prefix, hash } = generateApiKey(scope.tenantId);
    const scopes = body.scopes.includes('write') ? ['read', 'write'] : ['read'];
    return { values: { name: body.name, scopes, expires_at: body.expires_at ?? null, prefix, key_hash: hash }, extra: { key } };
  },
});
