/**
 * The report's charts as Vega-Lite specifications, rendered to SVG here in Node (vega's
 * headless View), so the HTML page holds finished pictures and needs no script to be viewed.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ReportModel } from './model.js';

const MiB = 2 ** 20;
const WIDTH = 760;

/** Renders a Vega-Lite spec to an SVG document fragment. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Memory over time: used bytes of the four pools, stacked per memory mode, and each mode's
 * storage region (the storage pool's size): when execution borrows from storage, or storage
 * from execution, that line moves. Spills are rules on the same axis.
 */
export function memorySpec(model: ReportModel): TopLevelSpec {
  const pools = [
    ['offHeapExecution', 'off-heap', 'execution'],
    ['offHeapStorage', 'off-heap', 'storage'],
    ['onHeapExecution', 'on-heap', 'execution'],
    ['onHeapStorage', 'on-heap', 'storage'],
  ] as const;
  const used = model.memory.flatMap((sample) =>
    pools.map(([key, mode, pool]) => ({ t: sample.t / 1000, mode, pool, MiB: sample.memory[key].used / MiB })),
  );
  const region = model.memory.flatMap((sample) => [
    { t: sample.t / 1000, mode: 'off-heap', MiB: sample.memory.offHeapStorage.size / MiB },
    { t: sample.t / 1000, mode: 'on-heap', MiB: sample.memory.onHeapStorage.size / MiB },
  ]);
  const spills = model.spills.map((s) => ({ t: s.t / 1000, mode: 'off-heap', task: s.taskId, count: s.count }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Memory pools over time (MiB used; dashed: the storage region; red: spills)',
    facet: { row: { field: 'mode', type: 'nominal', title: null, sort: ['off-heap', 'on-heap'] } },
    data: { values: [...used.map((d) => ({ ...d, layer: 'used' })), ...region.map((d) => ({ ...d, layer: 'region' })), ...spills.map((d) => ({ ...d, layer: 'spill' }))] },
    spec: {
      width: WIDTH - 120,
      height: 150,
      layer: [
        {
          transform: [{ filter: "datum.layer === 'used'" }],
          mark: { type: 'area', interpolate: 'step-after', opacity: 0.8 },
          encoding: {
            x: { field: 't', type: 'quantitative', title: 'seconds', scale: { domain: [0, model.durationMs / 1000] } },
            y: { field: 'MiB', type: 'quantitative', stack: 'zero', title: 'MiB' },
            color: { field: 'pool', type: 'nominal', scale: { domain: ['execution', 'storage'], range: ['#4c78a8', '#f58518'] } },
          },
        },
        {
          transform: [{ filter: "datum.layer === 'region'" }],
          mark: { type: 'line', interpolate: 'step-after', strokeDash: [6, 3], color: '#333' },
          encoding: { x: { field: 't', type: 'quantitative' }, y: { field: 'MiB', type: 'quantitative' } },
        },
        {
          transform: [{ filter: "datum.layer === 'spill'" }],
          mark: { type: 'rule', color: '#e45756', strokeWidth: 1 },
          encoding: { x: { field: 't', type: 'quantitative' }, tooltip: [{ field: 'task' }, { field: 'count' }] },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Task timeline: one row per executor slot, a bar per task coloured by stage, spills marked. */
export function timelineSpec(model: ReportModel): TopLevelSpec {
  const bars = model.tasks.map((t) => ({
    lane: `${t.executorId} slot ${t.slot}`,
    start: t.start / 1000,
    end: Math.max(t.end, t.start + 1) / 1000,
    stage: `stage ${t.stageId}${t.stageAttempt > 0 ? ` (attempt ${t.stageAttempt})` : ''}`,
    task: t.taskId,
    outcome: t.succeeded ? 'ok' : 'failed',
  }));
  const marks = model.spills.map((s) => ({ lane: `${s.executorId} slot ${s.slot}`, t: s.t / 1000, task: s.taskId, count: s.count }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH - 120,
    title: 'Tasks per executor slot (colour: stage; red ticks: spills)',
    layer: [
      {
        data: { values: bars },
        mark: { type: 'bar', cornerRadius: 2, height: { band: 0.7 } },
        encoding: {
          y: { field: 'lane', type: 'nominal', title: null },
          x: { field: 'start', type: 'quantitative', title: 'seconds', scale: { domain: [0, model.durationMs / 1000] } },
          x2: { field: 'end' },
          color: { field: 'stage', type: 'nominal' },
          opacity: { field: 'outcome', type: 'ordinal', scale: { domain: ['ok', 'failed'], range: [1, 0.35] }, legend: null },
          tooltip: [{ field: 'task' }, { field: 'stage' }, { field: 'start' }, { field: 'end' }],
        },
      },
      {
        data: { values: marks },
        mark: { type: 'tick', color: '#e45756', thickness: 2 },
        encoding: { y: { field: 'lane', type: 'nominal' }, x: { field: 't', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** One result of the spill lab: a workload at one budget, ours and the peer's. */
export interface SpillLabPoint {
  readonly budgetBytes: number;
  readonly engine: string;
  readonly seconds: number | null;
  readonly peakRssBytes: number | null;
  readonly spillCount?: number;
  readonly memoryBytesSpilled?: number;
  readonly diskBytesSpilled?: number;
  readonly mergePasses?: number;
  /** Rows the job produced (the same for every engine at every budget, or one is wrong). */
  readonly outputRows?: number;
  readonly error?: string;
}

/** Time, peak RSS (with y = budget) and spilled bytes versus the memory budget. */
export function spillLabSpecs(points: readonly SpillLabPoint[]): TopLevelSpec[] {
  const ok = points.filter((p) => p.seconds !== null);
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: WIDTH / 2 - 40, height: 220 } as const;
  const budgetAxis = { field: 'budget', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'memory budget (MiB)' } as const;
  const rows = ok.map((p) => ({ engine: p.engine, budget: p.budgetBytes / MiB, seconds: p.seconds, rss: (p.peakRssBytes ?? 0) / MiB }));
  const ours = ok.filter((p) => p.engine === 'tungsten');
  return [
    {
      ...base,
      title: 'Time versus memory budget',
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: { x: budgetAxis, y: { field: 'seconds', type: 'quantitative' }, color: { field: 'engine', type: 'nominal' } },
    },
    {
      ...base,
      title: 'Peak RSS versus budget (dashed: y = budget)',
      layer: [
        { data: { values: rows }, mark: { type: 'line', point: true }, encoding: { x: budgetAxis, y: { field: 'rss', type: 'quantitative', title: 'peak RSS (MiB)' }, color: { field: 'engine', type: 'nominal' } } },
        { data: { values: rows.map((r) => ({ budget: r.budget, rss: r.budget })) }, mark: { type: 'line', strokeDash: [6, 3], color: '#333' }, encoding: { x: budgetAxis, y: { field: 'rss', type: 'quantitative' } } },
      ],
    },
    {
      ...base,
      title: 'Bytes spilled versus budget (tungsten)',
      data: {
        values: ours.flatMap((p) => [
          { budget: p.budgetBytes / MiB, kind: 'memory bytes spilled', MiB: (p.memoryBytesSpilled ?? 0) / MiB },
          { budget: p.budgetBytes / MiB, kind: 'disk bytes spilled', MiB: (p.diskBytesSpilled ?? 0) / MiB },
        ]),
      },
      mark: { type: 'line', point: true },
      encoding: { x: budgetAxis, y: { field: 'MiB', type: 'quantitative' }, color: { field: 'kind', type: 'nominal' } },
    },
    {
      ...base,
      title: 'Spills and merge passes versus budget (tungsten)',
      data: {
        values: ours.flatMap((p) => [
          { budget: p.budgetBytes / MiB, kind: 'spills', n: p.spillCount ?? 0 },
          { budget: p.budgetBytes / MiB, kind: 'merge passes', n: p.mergePasses ?? 0 },
        ]),
      },
      mark: { type: 'line', point: true },
      encoding: { x: budgetAxis, y: { field: 'n', type: 'quantitative', title: 'count' }, color: { field: 'kind', type: 'nominal' } },
    },
  ] as TopLevelSpec[];
}
