import { describe, expect, it } from 'vitest';
import { StatementCache } from '../packages/kernel/src/db/statement-cache.js';

// The cache alone: which names a connection prepares, reuses and closes.
describe('StatementCache', () => {
  const prepared = (cache: StatementCache, text: string) => {
    const { statement, parsed } = cache.plan(text, []);
    if (parsed) cache.settle(text, true);
    return statement;
  };

  it('parses a text once, then binds its name', () => {
    const cache = new StatementCache(3);
    const first = prepared(cache, 'select 1');
    expect(first.parse).toBeUndefined();
    expect(prepared(cache, 'select 1')).toMatchObject({ name: first.name, parse: false });
    expect(cache.takeEvicted()).toEqual([]);
  });

  it('drops the least recently used statement, not the oldest', () => {
    const cache = new StatementCache(3);
    const names = ['a', 'b', 'c'].map((t) => prepared(cache, `select '${t}'`).name);
    prepared(cache, `select 'a'`); // used again: b is now the least recent
    prepared(cache, `select 'd'`);
    expect(cache.takeEvicted()).toEqual([names[1]]);
    prepared(cache, `select 'e'`);
    expect(cache.takeEvicted()).toEqual([names[2]]);
    expect(prepared(cache, `select 'a'`)).toMatchObject({ name: names[0], parse: false });
  });

  it('closes and parses again a statement whose pipeline failed', () => {
    const cache = new StatementCache(3);
    const { statement } = cache.plan('select 1/0', []);
    cache.settle('select 1/0', false);
    expect(cache.plan('select 1/0', [])).toMatchObject({ statement: { name: statement.name, closeFirst: true }, parsed: statement.name });
  });
});
