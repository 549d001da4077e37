import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ROWGUARD_ERROR_CODES } from '../packages/kernel/src/errors.js';
import { PROBLEMS } from '../src/http/problem.js';

// The README's error lists are the registries: a code added, removed or moved to another
// status in one place and not the other fails here.
const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
const section = (from: string, to: string) => readme.slice(readme.indexOf(from), readme.indexOf(to, readme.indexOf(from)));
const codesIn = (text: string) => [...text.matchAll(/`([A-Z][A-Z0-9_]{2,})`/g)].map((m) => m[1]!);

describe('error registries and the README', () => {
  it('the API problems: the README table lists every code of PROBLEMS under its status, and no other', () => {
    const table = section('**Errors** are RFC 9457', '**Admin API**');
    const listed: Record<string, number> = {};
    for (const [, status, codes] of table.matchAll(/^\| (\d{3}) \| (.*) \|$/gm)) for (const code of codesIn(codes!)) listed[code] = Number(status);
    expect(listed).toEqual(Object.fromEntries(Object.entries(PROBLEMS).map(([code, [status]]) => [code, status])));
  });

  it('the kernel and command errors: the README table is ROWGUARD_ERROR_CODES', () => {
    const table = section('Errors are `RowguardError` subclasses', 'Database errors pass through');
    const listed = [...table.matchAll(/^\| (`[^|]+`) \|/gm)].flatMap((m) => codesIn(m[1]!));
    expect(listed.sort()).toEqual([...ROWGUARD_ERROR_CODES].sort());
  });
});
