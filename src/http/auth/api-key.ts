import { createHash, randomBytes } from 'node:crypto';

/** API keys look like rg_<40 base64url characters>; 240 random bits. */
const KEY = /^rg_[A-Za-z0-9_-]{40}$/;

export function isApiKey(token: string): boolean {
  return token.startsWith('rg_');
}

export function isWellFormedApiKey(token: string): boolean {
  return KEY.test(token);
}

/**
 * A new key, its display prefix, and its hash. Only the hash and prefix are stored; the key
 * is shown once. A fast hash suffices: the key is random, not a password.
 */
export function generateApiKey(): { key: string; prefix: string; hash: Buffer } {
  const key = `rg_${randomBytes(30).toString('base64url')}`;
  return { key, prefix: key.slice(0, 10), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
