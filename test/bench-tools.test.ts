import { describe, expect, it } from 'vitest';
import { quantile, summarize } from '../bench/statistics.js';
import { barChart } from '../bench/svg-chart.js';

describe('benchmark statistics', () => {
  it('summarizes runs by median and spread', () => {
    expect(summarize([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    expect(summarize([4, 1, 2, 3]).median).toBe(2.5);
    expect(() => summarize([])).toThrow();
  });

  it('takes quantiles by nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(samples, 0.5)).toBe(50);
    expect(quantile(samples, 0.99)).toBe(99);
    expect(quantile([7], 0.99)).toBe(7);
  });
});

describe('bar chart', () => {
  it('draws one bar per value, scaled to the largest, as standalone SVG', () => {
    const svg = barChart('reads/s <c=8>', [{ label: 'V0 floor', value: 10_000, min: 9_000, max: 10_500 }, { label: 'V1', value: 5_000 }], 'req/s');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg).toContain('reads/s &lt;c=8&gt;');
    expect(svg).toContain('10,000 req/s');
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths[0]! / widths[1]!).toBeCloseTo(2, 1);
  });
});

describe('BENCHMARKS.md sections', () => {
  it('puts the Records section before the Citus section, replacing an older one', async () => {
    const { withRecordsSection } = await import('../bench/records.js');
    const main = '# Benchmarks\n\n## Targets\n\n- a\n';
    const citus = '\n## Citus\n\nfigures\n';
    const first = withRecordsSection(main + citus, '## Records\n\nold\n');
    expect(first).toBe(`${main}\n## Records\n\nold\n\n## Citus\n\nfigures\n`);
    const second = withRecordsSection(first, '## Records\n\nnew\n');
    expect(second).toBe(`${main}\n## Records\n\nnew\n\n## Citus\n\nfigures\n`);
    expect(withRecordsSection(main, '## Records\n\nonly\n')).toBe(`${main.trimEnd()}\n\n## Records\n\nonly\n`);
  });
});
