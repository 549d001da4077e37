import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** The default data dir (ROWGUARD_DATA_DIR's default), relative to the working directory. */
export const DEFAULT_DATA_DIR = '.rowguard';

/**
 * Where `serve` records the data dir it runs on, so that later commands in the same working
 * directory (token, audit, probe, urls, demo, …) use it with no flag: `.rowguard/data-dir`,
 * one absolute path.
 */
export function rememberedDataDirFile(cwd = process.cwd()): string {
  return join(cwd, DEFAULT_DATA_DIR, 'data-dir');
}

/** The data dir the last `serve` in `cwd` used, when it still exists; undefined otherwise. */
export function rememberedDataDir(cwd = process.cwd()): string | undefined {
  const file = rememberedDataDirFile(cwd);
  if (!existsSync(file)) return undefined;
  const dir = readFileSync(file, 'utf8').trim();
  try {
    return dir && statSync(dir).isDirectory() ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The data dir setting of a command: --data-dir, else ROWGUARD_DATA_DIR, else the one the last
 * `serve` in this working directory used, else the default (undefined: loadConfig's default).
 */
export function dataDirSetting(flag: string | undefined, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  return flag ?? (env.ROWGUARD_DATA_DIR ? undefined : rememberedDataDir(cwd));
}

/** Records `dataDir` for later commands in `cwd`; the default data dir needs no record. */
export async function rememberDataDir(dataDir: string, cwd = process.cwd()): Promise<void> {
  const file = rememberedDataDirFile(cwd);
  if (resolve(dataDir) === resolve(cwd, DEFAULT_DATA_DIR)) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(join(cwd, DEFAULT_DATA_DIR), { recursive: true, mode: 0o700 });
  await writeFile(file, resolve(dataDir) + '\n', { mode: 0o600 });
}
