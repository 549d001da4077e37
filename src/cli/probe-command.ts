import type pg from 'pg';
import { RowguardError } from '@rowguard/kernel';
import { connectClient, incompleteProbe, runProbe, unreachableError, type ProbeReport } from '@rowguard/audit';
import { wholeNumberFlag } from './commands.js';

export interface ProbeCommandOptions {
  ownerUrl: string | undefined;
  appUrl: string | undefined;
  tenantColumn?: string;
  setting?: string;
  schemas?: string[];
  format?: string;
  /** --expect-probed: at least this many tables and views probed, or the probe is incomplete (exit 2). */
  expectProbed?: string;
  /** With neither URL: the running embedded database's superuser (reads every row) and app URLs. */
  embedded?: () => Promise<{ ownerUrl: string; appUrl: string }>;
}

function formatText(report: ProbeReport): string {
  const lines: string[] = [`tenant context: ${report.setting}`];
  for (const r of report.results) {
    const mark = r.status === 'pass' ? 'PASS' : r.status === 'fail' ? 'FAIL' : 'SKIP';
    lines.push(`${mark}  ${r.object}${r.reason ? `  (not probed: ${r.reason})` : ''}`);
    for (const failure of r.failures) lines.push(`      ${failure}`);
  }
  const { pass, fail, notProbed } = report.summary;
  lines.push('', `${pass} passed, ${fail} failed, ${notProbed} not probed${fail === 0 ? ' — no leak found' : ' — TENANT DATA LEAKS'}`);
  return lines.join('\n') + '\n';
}

/**
 * rowguard probe: an active cross-tenant attack as the app role, always rolled back.
 * Exit codes: 0 no leak, 1 a leak, 2 the probe could not run or probed too little.
 */
export async function probeCommand(options: ProbeCommandOptions): Promise<number> {
  const { format = 'text' } = options;
  let { ownerUrl, appUrl } = options;
  const clients: pg.Client[] = [];
  try {
    if (format !== 'text' && format !== 'json') throw new RowguardError('CONFIG_INVALID', '--format must be text or json');
    const expectProbed = wholeNumberFlag('expect-probed', options.expectProbed);
    if (!ownerUrl && !appUrl && options.embedded) ({ ownerUrl, appUrl } = await options.embedded());
    if (!ownerUrl || !appUrl) throw new RowguardError('CONFIG_INVALID', 'probe needs an owner URL that reads every row and --app-url: rowguard probe postgres://… --app-url postgres://…');
    for (const url of [ownerUrl, appUrl]) clients.push(await connectClient(url, 'rowguard probe'));
    const report = await runProbe(clients[0]!, clients[1]!, {
      tenantColumn: options.tenantColumn,
      setting: options.setting,
      schemas: options.schemas,
      onProgress: (object, index, total) => process.stderr.write(`probing ${index}/${total} ${object}\n`),
    });
    process.stdout.write(format === 'json' ? JSON.stringify({ version: 1, ...report }, null, 2) + '\n' : formatText(report));
    if (report.summary.fail > 0) return 1;
    // A probe that attacked nothing, or less than the team expects, is not a clean probe.
    const problem = incompleteProbe(report, expectProbed);
    if (problem) throw problem;
    return 0;
  } catch (error) {
    const shown = unreachableError(error, clients.length ? appUrl : ownerUrl) ?? error;
    const message = shown instanceof Error ? shown.message : String(shown);
    const code = shown instanceof RowguardError ? ` [${shown.code}]` : '';
    console.error(`rowguard: ${message.split('\n')[0]}${code}`);
    return 2;
  } finally {
    await Promise.allSettled(clients.map((c) => c.end()));
  }
}
