import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** `npm run soak`: the long versions of the reliability tests. */
export const SOAK = process.env.ROWGUARD_SOAK === '1';

/**
 * Keeps a test's figures for RELIABILITY.md: written to ROWGUARD_RELIABILITY_OUT (set by
 * `npm run soak` and `npm run reliability`) as <name>.json; nothing is written otherwise.
 */
export async function recordFigures(name: string, figures: Record<string, unknown>): Promise<void> {
  const dir = process.env.ROWGUARD_RELIABILITY_OUT;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.json`), JSON.stringify({ name, soak: SOAK, at: new Date().toISOString(), ...figures }, null, 2) + '\n');
}
