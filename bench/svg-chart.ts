/** A horizontal bar chart as a standalone SVG: one bar per label, value printed at its end. */
export interface Bar {
  label: string;
  value: number;
  /** Drawn as a thin line over the bar: the spread of the runs. */
  min?: number;
  max?: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];
const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function barChart(title: string, bars: readonly Bar[], unit: string): string {
  const labelWidth = 330;
  const chartWidth = 420;
  const row = 26;
  const top = 34;
  const height = top + bars.length * row + 12;
  const max = Math.max(...bars.map((b) => b.max ?? b.value), 1);
  const x = (v: number) => labelWidth + (v / max) * chartWidth;
  const rows = bars.map((bar, i) => {
    const y = top + i * row;
    const spread = bar.min !== undefined && bar.max !== undefined ? `<line x1="${x(bar.min)}" x2="${x(bar.max)}" y1="${y + 9}" y2="${y + 9}" stroke="#222" stroke-width="1.5"/>` : '';
    return `<text x="${labelWidth - 8}" y="${y + 13}" text-anchor="end">${escape(bar.label)}</text>
<rect x="${labelWidth}" y="${y}" width="${Math.max(1, x(bar.value) - labelWidth)}" height="18" fill="${PALETTE[i % PALETTE.length]}"/>${spread}
<text x="${x(Math.max(bar.value, bar.max ?? 0)) + 6}" y="${y + 13}">${escape(formatValue(bar.value))} ${escape(unit)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + chartWidth + 140}" height="${height}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" font-size="14" font-weight="bold">${escape(title)}</text>
${rows.join('\n')}
</svg>
`;
}

export function formatValue(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}
