/**
 * A job's plan as plain data: what a task description carries (serialized as JSON) so that an
 * executor can rebuild a stage's pipeline without sharing the driver's objects.
 *
 * Nodes, each with an id unique in the session (it names cached blocks: rdd_<id>_<partition>):
 *   source       reads split `partition` of a source (sources.ts)
 *   mapBatches   a JavaScript function over each batch, named by its id in the session's
 *   filter       function registry: the one thing that keeps executors in this process
 *   sort         sorts each partition (ExternalSorter)
 *   aggregate    aggregates each partition (HashAggregator, partial | final | complete)
 *   persist      caches each partition's batches in the block manager at `level`
 *   shuffled     reads reduce partition `partition` of a shuffle; the shuffle's map side (its
 *                parent plan and partitioner) is the dependency, cut into its own stage
 *
 * A stage's pipeline is the chain of nodes from its root down to its sources and shuffled
 * leaves; the DAG scheduler cuts the plan at each shuffled node.
 */
import type { SortKey } from '../sort/ExternalSorter.js';
import type { AggregateSpec } from '../aggregate/aggregates.js';
import type { AggregationModeName } from '../aggregate/HashAggregator.js';
import type { StorageLevelName } from '../storage/StorageLevel.js';
import type { SourceDescriptor } from './sources.js';

export type PartitionerDescriptor =
  | { readonly kind: 'hash'; readonly numPartitions: number; readonly columns: readonly string[] }
  | { readonly kind: 'roundRobin'; readonly numPartitions: number }
  | { readonly kind: 'single' }
  /** `bounds`: base64 Arrow IPC of the numPartitions − 1 bound rows, filled in when the job
   *  starts (a sampling job computes them, as Spark's RangePartitioner does). */
  | { readonly kind: 'range'; readonly numPartitions: number; readonly keys: readonly SortKey[]; bounds?: string };

export interface ShuffleDependency {
  readonly shuffleId: number;
  readonly parent: PlanNode;
  readonly partitioner: PartitionerDescriptor;
  /** The map side's output schema, base64 Arrow IPC (a reducer with no input still knows it). */
  readonly schema?: string;
  /** Its partition count is the session's default (sql.shuffle.partitions), not the user's: a
   *  result stage may read neighbouring partitions in one task (scheduler/coalescePartitions.ts). */
  readonly mayCoalesce?: boolean;
}

export type PlanNode =
  | { readonly kind: 'source'; readonly id: number; readonly source: SourceDescriptor }
  | { readonly kind: 'mapBatches' | 'filter'; readonly id: number; readonly parent: PlanNode; readonly fnId: number }
  | { readonly kind: 'sort'; readonly id: number; readonly parent: PlanNode; readonly keys: readonly SortKey[] }
  | {
      readonly kind: 'aggregate';
      readonly id: number;
      readonly parent: PlanNode;
      readonly mode: AggregationModeName;
      readonly groupBy: readonly string[];
      readonly aggregates: readonly (string | AggregateSpec)[];
      /** Partial mode: after `probeRows` input rows, pass the rest through unaggregated when the
       *  groups are more than `ratio` of the rows read (aggregate/partialState.ts). */
      readonly skipPartial?: { readonly probeRows: number; readonly ratio: number };
    }
  | { readonly kind: 'persist'; readonly id: number; readonly parent: PlanNode; readonly level: StorageLevelName }
  | { readonly kind: 'shuffled'; readonly id: number; readonly dependency: ShuffleDependency };

export function numPartitionsOf(node: PlanNode): number {
  switch (node.kind) {
    case 'source':
      return node.source.numPartitions;
    case 'shuffled': {
      const p = node.dependency.partitioner;
      return p.kind === 'single' ? 1 : p.numPartitions;
    }
    default:
      return numPartitionsOf(node.parent);
  }
}

/** The shuffle dependencies a stage rooted at `node` reads directly (not through another). */
export function shuffleDependenciesOf(node: PlanNode): ShuffleDependency[] {
  switch (node.kind) {
    case 'source':
      return [];
    case 'shuffled':
      return [node.dependency];
    default:
      return shuffleDependenciesOf(node.parent);
  }
}

/** Whether the stage rooted at `node` (not looking past shuffles) caches a partition. */
export function stagePersists(node: PlanNode): boolean {
  switch (node.kind) {
    case 'source':
    case 'shuffled':
      return false;
    case 'persist':
      return true;
    default:
      return stagePersists(node.parent);
  }
}

/** Range dependencies anywhere under `node` whose bounds are not computed yet. */
export function rangeDependenciesWithoutBounds(node: PlanNode): ShuffleDependency[] {
  const out: ShuffleDependency[] = [];
  const visit = (n: PlanNode): void => {
    if (n.kind === 'source') return;
    if (n.kind === 'shuffled') {
      visit(n.dependency.parent);
      if (n.dependency.partitioner.kind === 'range' && n.dependency.partitioner.bounds === undefined) out.push(n.dependency);
      return;
    }
    visit(n.parent);
  };
  visit(node);
  return out;
}
