import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys look like rg_<40 base64url characters: 240 random bits><22: the tenant's id>. The
 * tenant part lets the key be looked up on the tenant's own rows (on Citus, one shard instead
 * of all); it reveals nothing the key's holder cannot already read. Keys made before it existed
 * have no tenant part and keep working, looked up by their hash alone.
 */
const KEY = /^rg_[A-Za-z0-9_-]{40}([A-Za-z0-9_-]{22})?$/;

export function isApiKey(token: string): boolean {
  return token.startsWith('rg_');
}

/** The tenant a well-formed key names (null for a key without one), or undefined for a malformed key. */
export function apiKeyTenant(token: string): string | null | undefined {
  const match = KEY.exec(token);
  if (!match) return undefined;
  if (!match[1]) return null;
  const bytes = Buffer.from(match[1], 'base64url');
  // 22 characters carry 132 bits: the last 4 must be zero, or the key was not made here.
  if (bytes.toString('base64url') !== match[1]) return undefined;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A new key of `tenantId`, its display prefix, and its hash. Only the hash and prefix are
 * stored; the key is shown once. A fast hash suffices: the key is random, not a password.
 */
export function generateApiKey(tenantId: string): { key: string; prefix: string; hash: Buffer } {
  const key = `rg_${randomBytes(30).toString('base64url')}${Buffer.from(tenantId.replaceAll('-', ''), 'hex').toString('base64url')}`;
  return { key, prefix: key.slice(0, 10), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
