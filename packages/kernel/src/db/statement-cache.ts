import type { PipelineStatement, RowShape } from './pipeline.js';

type Entry = { name: string; state: 'prepared' | 'unknown'; used: number };

/**
 * Named prepared statements of one connection, keyed by SQL text, least recently used first.
 *
 * After a failed pipeline the server may or may not hold a statement that was parsed in it,
 * so its entry turns 'unknown' and its next use closes the name before parsing it again.
 */
export class StatementCache {
  private readonly entries = new Map<string, Entry>();
  private readonly evicted: string[] = [];
  private counter = 0;
  /** Ticks on every use: the entry with the smallest `used` is the least recently used. */
  private clock = 0;

  constructor(private readonly capacity: number) {}

  /** The statement as it must be sent on this connection, plus the names it (re)parses. */
  plan(text: string, values: readonly unknown[] | undefined, wantResult = true, shape?: RowShape): { statement: PipelineStatement; parsed: string | null } {
    let entry = this.entries.get(text);
    if (entry) {
      // Stamped, not moved: re-inserting into the Map on every hit cost more than the rare
      // eviction's scan does.
      entry.used = ++this.clock;
      if (entry.state === 'prepared') {
        return { statement: { text, values, name: entry.name, parse: false, wantResult, shape }, parsed: null };
      }
      return { statement: { text, values, name: entry.name, closeFirst: true, wantResult, shape }, parsed: entry.name };
    }
    entry = { name: `rowguard_${++this.counter}`, state: 'unknown', used: ++this.clock };
    this.entries.set(text, entry);
    this.evictOverflow();
    return { statement: { text, values, name: entry.name, wantResult, shape }, parsed: entry.name };
  }

  /** Statements evicted since the last call; the caller closes them on the server. */
  takeEvicted(): string[] {
    return this.evicted.splice(0);
  }

  settle(text: string, ok: boolean): void {
    const entry = this.entries.get(text);
    if (entry) entry.state = ok ? 'prepared' : 'unknown';
  }

  private evictOverflow(): void {
    while (this.entries.size > this.capacity) {
      let oldest: [string, Entry] | undefined;
      for (const pair of this.entries) if (!oldest || pair[1].used < oldest[1].used) oldest = pair;
      this.entries.delete(oldest![0]);
      this.evicted.push(oldest![1].name);
    }
  }
}
