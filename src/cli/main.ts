/**
 * The `tungsten` command: gen, sort, agg, report and bench spill over Arrow IPC files, on the
 * public Dataset API.
 *
 * Conventions: human output (progress, summaries) goes to stderr, `--json` prints one
 * machine-readable summary on stdout, `--quiet` silences stderr but for errors. Exit codes:
 * 0 ok, 1 the job failed, 2 bad usage (unknown flag, missing file, unparsable size, unknown
 * column), which prints one line and the command's help, never a stack trace.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { Session, type SessionOptions } from '../api/Session.js';
import type { WorkloadKind } from '../api/generator.js';
import { parseAggregate } from '../aggregate/aggregates.js';
import { formatBytes, parseSize } from '../config/size.js';
import { ColumnNotFoundError, ConfigError, InvalidArgumentError, SchemaMismatchError, TungstenError, UnsupportedTypeError } from '../errors.js';
import type { SchedulerEvent } from '../scheduler/ListenerBus.js';
import { addTaskMetrics, emptyTaskMetrics, type TaskMetrics } from '../scheduler/messages.js';
import type { SortKey } from '../sort/ExternalSorter.js';
import type { ReportInput } from '../report/html.js';
import { buildReportModel, parseEventLog } from '../report/model.js';
import { ConsoleProgress } from './progress.js';
import { runDuckdbQuery } from './duckdbPeer.js';
import { runSpillLab, SPILL_LAB_WORKLOADS } from './spillLab.js';
import { peakRssBytes } from '../util/peakRss.js';

/** A mistake in the command line: exit code 2, one line, the command's help. */
export class UsageError extends Error {}

interface CommonOptions {
  eventLog?: string;
  json?: boolean;
  quiet?: boolean;
}

interface JobOptions extends CommonOptions {
  in: string;
  out: string;
  memory: string;
  cores?: string;
  partitions?: string;
  format: 'file' | 'stream';
  compression: 'lz4' | 'none';
  report?: string;
  tmpDir?: string;
}

const say = (options: CommonOptions, line: string): void => {
  if (!options.quiet) process.stderr.write(`${line}\n`);
};

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a whole number of at least 1, got "${text}"`);
  return n;
}

function size(text: string, flag: string): number {
  try {
    return parseSize(text);
  } catch {
    throw new UsageError(`${flag}: "${text}" is not a size; write e.g. 256m, 1g or 64k`);
  }
}

/** `key:desc:nullsfirst,skey` → sort keys. */
export function parseSortKeys(text: string): SortKey[] {
  const keys = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (keys.length === 0) throw new UsageError('--by needs at least one column, e.g. --by key or --by key:desc');
  return keys.map((part) => {
    const [column, ...flags] = part.split(':');
    let descending = false;
    let nullsFirst: boolean | undefined;
    for (const flag of flags.map((f) => f.toLowerCase())) {
      if (flag === 'desc') descending = true;
      else if (flag === 'asc') descending = false;
      else if (flag === 'nullsfirst') nullsFirst = true;
      else if (flag === 'nullslast') nullsFirst = false;
      else throw new UsageError(`--by ${part}: unknown flag "${flag}"; use asc, desc, nullsfirst or nullslast`);
    }
    if (!column) throw new UsageError(`--by ${part}: the column name is missing`);
    return { column, descending, nullsFirst: nullsFirst ?? !descending };
  });
}

/** `count(*),sum(v),avg(v) as mean` → aggregate strings, each checked. */
export function parseAggregates(text: string): string[] {
  const specs = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  if (specs.length === 0) throw new UsageError('--agg needs at least one aggregate, e.g. --agg "count(*),sum(v)"');
  for (const spec of specs) {
    try {
      parseAggregate(spec);
    } catch (error) {
      throw new UsageError(`--agg: ${(error as Error).message}`);
    }
  }
  return specs;
}

function existingFile(path: string, flag: string): string {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${flag}: no such file: ${path}`);
  return path;
}

/**
 * Runs `body` in a session that shows its progress (unless quiet) and keeps its events (when a
 * report is wanted), and closes it whatever happens; returns what the body did with the
 * session's job totals.
 */
async function inObservedSession<R>(
  sessionOptions: SessionOptions,
  observe: { readonly quiet?: boolean | undefined; readonly keepEvents: boolean },
  body: (session: Session) => Promise<R>,
): Promise<{ result: R; events: SchedulerEvent[]; totals: TaskMetrics; jobs: number }> {
  const events: SchedulerEvent[] = [];
  // Heartbeats every 250 ms: the progress display and the report's memory chart read them.
  const session = await Session.create({ 'executor.heartbeatInterval': 250, ...sessionOptions });
  const progress = observe.quiet ? undefined : new ConsoleProgress();
  const stopProgress = progress ? session.onEvent(progress.onEvent) : undefined;
  const stopCollecting = observe.keepEvents ? session.onEvent((event) => events.push(event)) : undefined;
  let result: R;
  try {
    result = await body(session);
  } finally {
    stopProgress?.();
    progress?.stop();
    stopCollecting?.();
    await session.close();
  }
  const totals = session.jobs.reduce((sum, job) => addTaskMetrics(sum, job.totals), emptyTaskMetrics());
  return { result, events, totals, jobs: session.jobs.length };
}

/**
 * Without --partitions, a job gets one shuffle partition per 64 MiB of input file, and at least
 * one per core: the map side writes fewer, larger segments than sql.shuffle.partitions' 200
 * would (300 K rows: 3.5 s with 200, 0.6 s with 2, before result stages were coalesced), and
 * coalescing still merges partitions that turn out small.
 */
const ADVISORY_PARTITION_BYTES = 64 * 2 ** 20;

function defaultPartitions(input: string, cores: number): number {
  return Math.max(cores, Math.ceil(statSync(input).size / ADVISORY_PARTITION_BYTES));
}

/** Runs a sort or aggregation from the flags; prints its summary; renders its report. */
async function runJobCommand(options: JobOptions, title: string, body: (session: Session) => Promise<{ rows: number; bytes: number }>): Promise<void> {
  const memory = size(options.memory, '--memory');
  const cores = positiveInt(options.cores, '--cores');
  const partitions = positiveInt(options.partitions, '--partitions') ?? defaultPartitions(options.in, cores ?? availableParallelism());
  const started = performance.now();
  const { result: written, events, totals, jobs } = await inObservedSession(
    {
      memory,
      ...(cores !== undefined ? { cores } : {}),
      shufflePartitions: partitions,
      ...(options.eventLog ? { eventLog: resolve(options.eventLog) } : {}),
      ...(options.tmpDir ? { localDirs: [options.tmpDir] } : {}),
      onWarning: (message) => say(options, `warning: ${message}`),
    },
    { quiet: options.quiet, keepEvents: options.report !== undefined },
    body,
  );
  const seconds = (performance.now() - started) / 1000;
  const summary = {
    command: title,
    out: resolve(options.out),
    rows: written.rows,
    bytes: written.bytes,
    seconds,
    memoryBudgetBytes: memory,
    peakRssBytes: peakRssBytes(),
    jobs,
    ...totals,
  };
  say(options, `${title}: ${written.rows.toLocaleString('en')} rows → ${options.out} (${formatBytes(written.bytes)}) in ${seconds.toFixed(2)} s; ${totals.spillCount} spills, ${formatBytes(totals.diskBytesSpilled)} spilled to disk; peak RSS ${formatBytes(summary.peakRssBytes)}`);
  if (options.report) {
    await writeReport(options.report, { title: `tungsten ${title}`, subtitle: process.argv.slice(2).join(' '), model: buildReportModel(events) });
    say(options, `report: ${resolve(options.report)}`);
  }
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function addCommon(command: Command): Command {
  return command
    .option('--event-log <file>', 'append the scheduler events to this JSON-lines file')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--quiet', 'no progress and no summary on stderr');
}

function addJobOptions(command: Command): Command {
  return addCommon(command)
    .requiredOption('--in <file>', 'input Arrow IPC file (file or stream format, detected)')
    .requiredOption('--out <file>', 'output Arrow IPC file')
    .option('--memory <size>', 'the memory budget (memory.offHeap.size)', '256m')
    .option('--cores <n>', 'task slots (executor.cores); default: the machine\'s cores')
    .option('--partitions <n>', 'shuffle partitions (sql.shuffle.partitions); default: one per 64 MiB of input, at least one per core')
    .addOption(new Option('--format <format>', 'output format').choices(['file', 'stream']).default('file'))
    .addOption(new Option('--compression <codec>', 'output compression').choices(['lz4', 'none']).default('lz4'))
    .option('--report <file>', 'write an HTML report of the job (memory, tasks, stages)')
    .option('--tmp-dir <dir>', 'folder for spill and shuffle files (local.dir); default: the system temp folder');
}

/**
 * Writes a report. The renderer is imported here, not at start-up: Vega and Vega-Lite add
 * about 18 MB to the process, which a job's peak RSS (measured against its budget) would carry.
 */
async function writeReport(path: string, input: ReportInput): Promise<void> {
  const { renderReport } = await import('../report/html.js');
  writeFileSync(path, await renderReport(input));
}

export function buildProgram(): Command {
  const program = new Command('tungsten')
    .description('Sort and aggregate Arrow IPC files larger than memory, Spark-style, with spill behaviour you can see.')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text), writeOut: (text) => process.stdout.write(text) });

  addCommon(
    program
      .command('gen')
      .description('write the seeded workload data of WORKLOADS.md as an Arrow IPC file')
      .requiredOption('--rows <n>', 'rows to generate')
      .option('--groups <g>', 'aggregation data: g = |key| mod G, v = (i mod 1000) as float64')
      .option('--strings', 'string keys (skey) instead of int64 keys')
      .option('--records100', '100-byte records: key FixedSizeBinary(10), payload FixedSizeBinary(90)')
      .option('--seed <n>', 'the generator seed', '42')
      .requiredOption('--out <file>', 'output file')
      .addOption(new Option('--format <format>', 'IPC file or stream format').choices(['file', 'stream']).default('file'))
      .addOption(new Option('--compression <codec>', 'buffer compression').choices(['lz4', 'none']).default('lz4'))
      .addHelpText('after', '\nExamples:\n  tungsten gen --rows 10000000 --out data.arrow\n  tungsten gen --rows 20000000 --groups 4000000 --out groups.arrow\n  tungsten gen --rows 1000000 --strings --format stream --out strings.arrows'),
  ).action(async (options: CommonOptions & { rows: string; groups?: string; strings?: boolean; records100?: boolean; seed: string; out: string; format: 'file' | 'stream'; compression: 'lz4' | 'none' }) => {
    const rows = positiveInt(options.rows, '--rows')!;
    const groups = positiveInt(options.groups, '--groups');
    const seed = Number(options.seed);
    if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a whole number, got "${options.seed}"`);
    const kinds = [groups !== undefined, options.strings === true, options.records100 === true].filter(Boolean).length;
    if (kinds > 1) throw new UsageError('choose one of --groups, --strings and --records100');
    const workload: WorkloadKind = groups !== undefined ? 'groups' : options.strings ? 'stringKey' : options.records100 ? 'records100' : 'keyPayload';
    const session = await Session.create({ memory: '64m', ...(options.eventLog ? { eventLog: resolve(options.eventLog) } : {}) });
    const started = performance.now();
    try {
      const partitions = Math.max(1, Math.min(session.defaultParallelism, Math.ceil(rows / 65_536)));
      const written = await session.generate(workload, { rows, seed, partitions, ...(groups !== undefined ? { groups } : {}) }).writeArrow(options.out, { format: options.format, compression: options.compression });
      const seconds = (performance.now() - started) / 1000;
      say(options, `gen: ${written.rows.toLocaleString('en')} rows of ${workload} → ${options.out} (${formatBytes(written.bytes)}) in ${seconds.toFixed(2)} s`);
      if (options.json) process.stdout.write(`${JSON.stringify({ command: 'gen', workload, out: resolve(options.out), ...written, seconds })}\n`);
    } finally {
      await session.close();
    }
  });

  addJobOptions(
    program
      .command('sort')
      .description('sort an Arrow IPC file by one or more columns, spilling to disk beyond the budget')
      .requiredOption('--by <keys>', 'COL[:desc][:nullsfirst|:nullslast],… most significant first')
      .addHelpText('after', '\nExamples:\n  tungsten sort --in data.arrow --out sorted.arrow --by key --memory 256m\n  tungsten sort --in data.arrow --out sorted.arrow --by key:desc,payload --cores 2 --report sort.html'),
  ).action(async (options: JobOptions & { by: string }) => {
    const keys = parseSortKeys(options.by);
    existingFile(options.in, '--in');
    await runJobCommand(options, 'sort', (session) => session.readArrow(options.in).sortBy(keys).writeArrow(options.out, { format: options.format, compression: options.compression }));
  });

  addJobOptions(
    program
      .command('agg')
      .description('group an Arrow IPC file by columns and aggregate (partial, shuffle, final)')
      .requiredOption('--group-by <cols>', 'grouping columns, comma-separated')
      .requiredOption('--agg <aggregates>', 'count(*), count(c), sum(c), avg(c), min(c), max(c), each "as name" optionally')
      .addHelpText('after', '\nExamples:\n  tungsten agg --in groups.arrow --out out.arrow --group-by g --agg "count(*),sum(v),avg(v),min(v),max(v)"\n  tungsten agg --in groups.arrow --out out.arrow --group-by g --agg "sum(v) as total" --memory 128m --report agg.html'),
  ).action(async (options: JobOptions & { groupBy: string; agg: string }) => {
    const keys = options.groupBy.split(',').map((k) => k.trim()).filter((k) => k !== '');
    if (keys.length === 0) throw new UsageError('--group-by needs at least one column');
    const aggregates = parseAggregates(options.agg);
    existingFile(options.in, '--in');
    await runJobCommand(options, 'agg', (session) => session.readArrow(options.in).groupBy(keys).agg(aggregates).writeArrow(options.out, { format: options.format, compression: options.compression }));
  });

  program
    .command('report')
    .description('render an event log (from --event-log) as a self-contained HTML report')
    .argument('<eventlog>', 'a JSON-lines event log')
    .requiredOption('--out <file>', 'the HTML file to write')
    .option('--quiet', 'say nothing on stderr')
    .option('--json', 'print a machine-readable summary on stdout')
    .addHelpText('after', '\nExample:\n  tungsten sort --in data.arrow --out sorted.arrow --by key --event-log events.jsonl\n  tungsten report events.jsonl --out report.html')
    .action(async (eventLog: string, options: CommonOptions & { out: string }) => {
      existingFile(eventLog, 'eventlog');
      let events: SchedulerEvent[];
      try {
        events = parseEventLog(readFileSync(eventLog, 'utf8'), eventLog);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const model = buildReportModel(events);
      await writeReport(options.out, { title: 'tungsten report', subtitle: resolve(eventLog), model });
      say(options, `report: ${resolve(options.out)} (${model.jobs.length} jobs, ${model.tasks.length} tasks)`);
      if (options.json) process.stdout.write(`${JSON.stringify({ command: 'report', out: resolve(options.out), jobs: model.jobs.length, tasks: model.tasks.length })}\n`);
    });

  program
    .command('demo')
    .description('generate data, sort it and aggregate it under a budget that forces spilling, and write the report (npm start)')
    .option('--rows <n>', 'rows to generate', '2000000')
    .option('--memory <size>', 'the memory budget', '24m')
    .option('--dir <dir>', 'where data, outputs and the report go (default: a new temporary folder)')
    .option('--quiet', 'no progress on stderr')
    .action(async (options: CommonOptions & { rows: string; memory: string; dir?: string }) => {
      const rows = positiveInt(options.rows, '--rows')!;
      const memory = size(options.memory, '--memory');
      const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tungsten-demo-'));
      mkdirSync(dir, { recursive: true }); // --dir may name a folder still to be made
      say(options, `demo: ${rows.toLocaleString('en')} rows, a ${formatBytes(memory)} budget, files in ${dir}`);
      const sessionOptions = { memory, shufflePartitions: 8, localDirs: [dir], onWarning: (message: string) => say(options, `warning: ${message}`) };
      const { events, totals } = await inObservedSession(sessionOptions, { quiet: options.quiet, keepEvents: true }, async (session) => {
        const [data, groups] = [join(dir, 'data.arrow'), join(dir, 'groups-data.arrow')];
        await session.generate('keyPayload', { rows, partitions: 2 }).writeArrow(data);
        await session.generate('groups', { rows, groups: Math.max(1, Math.floor(rows / 4)), partitions: 2 }).writeArrow(groups);
        const sorted = await session.readArrow(data).sortBy('key').writeArrow(join(dir, 'sorted.arrow'));
        say(options, `sorted ${sorted.rows.toLocaleString('en')} rows → ${join(dir, 'sorted.arrow')}`);
        const grouped = await session.readArrow(groups).groupBy('g').agg('count(*)', 'sum(v)', 'avg(v)', 'min(v)', 'max(v)').writeArrow(join(dir, 'groups.arrow'));
        say(options, `aggregated into ${grouped.rows.toLocaleString('en')} groups → ${join(dir, 'groups.arrow')}`);
      });
      const report = join(dir, 'report.html');
      await writeReport(report, { title: 'tungsten demo: a sort and an aggregation under a small budget', subtitle: `${rows.toLocaleString('en')} rows, memory ${formatBytes(memory)}`, model: buildReportModel(events) });
      process.stderr.write(`${totals.spillCount} spills, ${formatBytes(totals.diskBytesSpilled)} written to spill files.\nReport: ${report}\n`);
    });

  const bench = program.command('bench').description('benchmarks');
  addCommon(
    bench
      .command('spill')
      .description('run a workload at each memory budget, each in a fresh process, and chart how it degrades')
      .addOption(new Option('--workload <id>', 'the workload of WORKLOADS.md').choices(Object.keys(SPILL_LAB_WORKLOADS)).makeOptionMandatory())
      .option('--rows <n>', 'rows (default: the workload\'s)')
      .requiredOption('--memory <sizes>', 'budgets, comma-separated, e.g. 64m,128m,256m,512m,1g')
      .option('--cores <n>', 'task slots', '2')
      .option('--peers <engines>', 'peers to run at each budget too, each in a fresh process: duckdb (needs @duckdb/node-api installed)')
      .requiredOption('--report <file>', 'the HTML report to write')
      .option('--data-dir <dir>', 'where the generated input is kept between runs (default: a temporary folder)')
      .addHelpText('after', '\nExamples:\n  tungsten bench spill --workload S2 --rows 5000000 --memory 64m,128m,256m,512m --report spill.html\n  tungsten bench spill --workload A2 --memory 128m,256m,1g --peers duckdb --report a2.html'),
  ).action(async (options: CommonOptions & { workload: string; rows?: string; memory: string; cores: string; peers?: string; report: string; dataDir?: string }) => {
    const budgets = options.memory.split(',').map((m) => m.trim()).filter((m) => m !== '').map((m) => size(m, '--memory'));
    if (budgets.length === 0) throw new UsageError('--memory needs at least one size');
    const peers = (options.peers ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    for (const peer of peers) if (peer !== 'duckdb') throw new UsageError(`--peers: unknown peer "${peer}"; the spill lab can run duckdb`);
    const rows = positiveInt(options.rows, '--rows');
    const cores = positiveInt(options.cores, '--cores')!;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tungsten-spill-lab-'));
    try {
      const result = await runSpillLab({ workload: options.workload, ...(rows !== undefined ? { rows } : {}), budgets, cores, dataDir, peers: peers as 'duckdb'[], log: (line) => say(options, line) });
      await writeReport(options.report, { title: `tungsten spill lab: ${options.workload}`, subtitle: process.argv.slice(2).join(' '), spillLab: result });
      say(options, `report: ${resolve(options.report)}`);
      if (options.json) process.stdout.write(`${JSON.stringify({ command: 'bench spill', ...result })}\n`);
    } finally {
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });
  // The spill lab's peer runs, one per process (spillLab.ts spawns them; not for users).
  bench
    .command('peer', { hidden: true })
    .addOption(new Option('--engine <engine>').choices(['duckdb']).makeOptionMandatory())
    .requiredOption('--db <file>')
    .requiredOption('--select <sql>')
    .requiredOption('--memory <size>')
    .option('--cores <n>', 'threads', '2')
    .requiredOption('--tmp-dir <dir>')
    .option('--json')
    .option('--quiet')
    .action(async (options: { db: string; select: string; memory: string; cores: string; tmpDir: string }) => {
      const run = await runDuckdbQuery(options.db, options.select, size(options.memory, '--memory'), positiveInt(options.cores, '--cores')!, join(options.tmpDir, 'duckdb-tmp'));
      process.stdout.write(`${JSON.stringify(run)}\n`);
    });
  return program;
}

/** Errors a user can fix by changing the command line. */
function isUsageError(error: unknown): boolean {
  return error instanceof UsageError || error instanceof ColumnNotFoundError || error instanceof ConfigError || error instanceof UnsupportedTypeError || error instanceof SchemaMismatchError || error instanceof InvalidArgumentError;
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version') return 0;
      return 2; // commander printed the line and the help
    }
    const command = findCommand(program, argv);
    if (isUsageError(error)) {
      process.stderr.write(`error: ${(error as Error).message}\n\n`);
      command.outputHelp({ error: true });
      return 2;
    }
    const code = error instanceof TungstenError ? ` [${error.code}]` : '';
    process.stderr.write(`tungsten: the job failed${code}: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

function findCommand(program: Command, argv: readonly string[]): Command {
  let command = program;
  for (const word of argv) {
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    command = sub;
  }
  return command;
}
