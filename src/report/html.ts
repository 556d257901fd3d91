/**
 * The report: one self-contained HTML file (inline SVG charts and CSS, no script, nothing
 * fetched), from a job's events and, for the spill lab, its table of runs.
 */
import { formatBytes } from '../config/size.js';
import { memorySpec, renderSvg, type SpillLabPoint, spillLabSpecs, timelineSpec } from './charts.js';
import type { ReportModel } from './model.js';

export interface ReportInput {
  readonly title: string;
  /** A line under the title: the command, the machine. */
  readonly subtitle?: string;
  readonly model?: ReportModel;
  readonly spillLab?: { readonly workload: string; readonly rows: number; readonly points: readonly SpillLabPoint[] };
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const bytes = (n: number): string => (n > 0 ? formatBytes(n) : '0');
const seconds = (ms: number | undefined): string => (ms === undefined ? '—' : (ms / 1000).toFixed(2));

function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function stageTable(model: ReportModel): string {
  return table(
    ['stage', 'name', 'tasks', 'failed', 'time s', 'peak execution memory', 'memory bytes spilled', 'disk bytes spilled', 'spills', 'shuffle read', 'shuffle write'],
    model.stages.map((s) => [
      `${s.stageId}${s.attempt > 0 ? `.${s.attempt}` : ''}`,
      s.name,
      `${s.tasks}/${s.numTasks}`,
      String(s.failedTasks),
      seconds(s.end === undefined ? undefined : s.end - s.start),
      bytes(s.totals.peakExecutionMemory),
      bytes(s.totals.memoryBytesSpilled),
      bytes(s.totals.diskBytesSpilled),
      String(s.totals.spillCount),
      bytes(s.totals.shuffleReadBytes),
      bytes(s.totals.shuffleWriteBytes),
    ]),
  );
}

function spillLabTable(points: readonly SpillLabPoint[]): string {
  return table(
    ['budget', 'engine', 'time s', 'peak RSS', 'spills', 'memory bytes spilled', 'disk bytes spilled', 'merge passes', 'note'],
    points.map((p) => [
      formatBytes(p.budgetBytes),
      p.engine,
      p.seconds === null ? '—' : p.seconds.toFixed(2),
      p.peakRssBytes === null ? '—' : formatBytes(p.peakRssBytes),
      p.spillCount === undefined ? '' : String(p.spillCount),
      p.memoryBytesSpilled === undefined ? '' : bytes(p.memoryBytesSpilled),
      p.diskBytesSpilled === undefined ? '' : bytes(p.diskBytesSpilled),
      p.mergePasses === undefined ? '' : String(p.mergePasses),
      p.error ?? '',
    ]),
  );
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; } .chart { overflow-x: auto; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 13px; } th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f6f6f6; } td:nth-child(2), th:nth-child(2) { text-align: left; }
.note { color: #555; max-width: 46em; } .grid { display: flex; flex-wrap: wrap; gap: 12px; }`;

export async function renderReport(input: ReportInput): Promise<string> {
  const sections: string[] = [];
  const { model, spillLab } = input;
  if (spillLab) {
    const svgs = await Promise.all(spillLabSpecs(spillLab.points).map(renderSvg));
    sections.push(
      `<h2>Spill lab: ${escapeHtml(spillLab.workload)}, ${spillLab.rows.toLocaleString('en')} rows</h2>`,
      `<p class="note">Each run is a fresh process at one memory budget, so each peak RSS is its own. The dashed line is y = budget: a process above it used memory its budget does not bound.</p>`,
      `<div class="grid">${svgs.map((svg) => `<div class="chart">${svg}</div>`).join('')}</div>`,
      spillLabTable(spillLab.points),
    );
  }
  if (model) {
    const jobs = model.jobs.map((j) => `job ${j.jobId} (${escapeHtml(j.description)}): ${seconds(j.end === undefined ? undefined : j.end - j.start)} s, ${j.result ?? 'running'}`);
    sections.push(
      `<h2>Jobs</h2><p>${jobs.join('<br>') || 'none'}</p>`,
      `<h2>Memory over time</h2>`,
      model.memory.length > 0
        ? `<div class="chart">${await renderSvg(memorySpec(model))}</div>`
        : `<p class="note">No memory samples: the event log has no executor heartbeats (ExecutorMetricsUpdate); set executor.heartbeatInterval below the job's length.</p>`,
      `<p class="note">Execution memory (blue) holds the pages of sorts and aggregations; storage (orange) holds cached blocks and task results. The dashed line is the storage region: execution may borrow below it only while storage does not use that memory, and storage borrows above it from idle execution memory, so the line moves as either side borrows.</p>`,
      `<h2>Task timeline</h2>`,
      model.tasks.length > 0 ? `<div class="chart">${await renderSvg(timelineSpec(model))}</div>` : '<p>No tasks.</p>',
      `<h2>Stages</h2>`,
      stageTable(model),
      `<p class="note"><b>Memory bytes spilled</b> is the size the spilled rows had in memory; <b>disk bytes spilled</b> is what the spill files took on disk (after the row format and compression), so the two differ, and the second is what the disk paid.</p>`,
    );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(input.title)}</h1>${input.subtitle ? `<p class="sub">${escapeHtml(input.subtitle)}</p>` : ''}
${sections.join('\n')}
</body></html>
`;
}
