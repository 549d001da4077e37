import type { Lint } from '../lint.js';

export const leakproofFunction: Lint = {
  id: 'leakproof-function',
  severity: 'warn',
  title: 'User-defined LEAKPROOF function',
  run: (catalog) =>
    catalog.functions
      .filter((f) => f.leakproof && !f.builtIn)
      .map((f) => ({
        id: 'leakproof-function',
        severity: 'warn' as const,
        object: `function ${f.signature}`,
        message: 'LEAKPROOF functions run before the policies filter rows: one that can raise an error or return its argument leaks other tenants’ values.',
        fix: `alter function ${f.signature} not leakproof;`,
      })),
};
