import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './load-config.js';

export interface Secrets {
  /** HS256 secret for tenant JWTs, when no key is configured. */
  jwtSecret: string | undefined;
  adminToken: string | undefined;
}

/**
 * Outside production, a missing JWT secret or admin token is generated once and kept in the
 * data folder (mode 0600), so `npm start` and `rowguard token` work with no set-up. In
 * production nothing is generated: what is not configured stays off.
 */
export async function loadSecrets(config: Config): Promise<Secrets> {
  const jwtConfigured = Boolean(config.jwt.secret || config.jwt.publicKeyPem || config.jwt.jwksUrl);
  if (config.env === 'production') return { jwtSecret: config.jwt.secret, adminToken: config.adminToken };
  return {
    jwtSecret: jwtConfigured ? config.jwt.secret : await loadOrCreate(config.dataDir, 'jwt-secret'),
    adminToken: config.adminToken ?? (await loadOrCreate(config.dataDir, 'admin-token')),
  };
}

async function loadOrCreate(dataDir: string, name: string): Promise<string> {
  const file = join(dataDir, name);
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, secret + '\n', { mode: 0o600 });
  return secret;
}
