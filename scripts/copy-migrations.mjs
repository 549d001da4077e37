// tsc compiles only TypeScript; the numbered .sql migrations ship beside the compiled runner.
import { cpSync } from 'node:fs';
cpSync('src/schema/migrations', 'dist/schema/migrations', { recursive: true });
