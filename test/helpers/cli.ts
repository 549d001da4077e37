import { join, resolve } from 'node:path';

/**
 * How tests run the `rowguard` command: the compiled CLI the package ships, which the global
 * setup builds once per run (`npm run build`). Under `--import tsx` every spawn paid about
 * half a second of TypeScript loading, and the CLI suites spawn it a hundred times.
 */
export const CLI = [join(resolve(import.meta.dirname, '../..'), 'dist/cli/main.js')];
