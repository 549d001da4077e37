// tsc compiles only TypeScript; the numbered .sql migrations ship beside the compiled runner.
import { chmodSync, cpSync } from 'node:fs';
cpSync('src/migrations', 'dist/migrations', { recursive: true });
// tsc writes every file 0644; the CLI is the package's bin, which `npx rowguard` runs directly.
chmodSync('dist/cli/main.js', 0o755);
