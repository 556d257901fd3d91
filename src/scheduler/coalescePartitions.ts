/**
 * Coalescing a result stage's shuffle partitions by their sizes: what Spark's adaptive execution
 * does after a shuffle (CoalesceShufflePartitions over ShufflePartitionsUtil), so a stage
 * planned with sql.shuffle.partitions (200) does not launch 200 tasks for a few kilobytes.
 *
 * Which stages: a result stage that reads one shuffle whose partition count was not the user's
 * (sortBy and groupBy without `partitions`; never repartition(n), as Spark never coalesces a
 * REPARTITION_BY_NUM), that caches nothing (a cached block is named by its partition) and whose
 * job did not list its partitions. The layout is fixed when the stage first runs, from the map
 * outputs' sizes then; a retry after a fetch failure keeps it.
 *
 * The algorithm (Spark 3.4's, for one shuffle, without skew handling):
 *   1. targetSize = max(min(ceil(total / minNumPartitions), advisory), minPartitionSize), where
 *      total is the bytes of every partition, and minNumPartitions is the default parallelism
 *      when parallelismFirst (spark.sql.adaptive.coalescePartitions.parallelismFirst) is on,
 *      else 1. With the defaults (16 MiB advisory, Spark's is 64; 1 MiB minimum) and 2 cores, 8
 *      partitions of 20 KB become one task, 8 of 2 MB two tasks of 8 MB, 8 of 10 MB stay 8.
 *   2. Walk the partitions in order, adding each to the current range; when the next one would
 *      take a range of at least one partition above targetSize, the range ends before it (so
 *      a range is above targetSize only when it is one partition).
 *   3. Ranges of zero bytes are dropped (an empty task is waste); if every range is empty, one
 *      range covers all partitions, so the job still has a task (and its output schema).
 * Ranges are contiguous, so a total order across partitions (sortBy) stays one across ranges.
 */

/** Reduce partitions [start, end) read by one task. */
export interface PartitionRange {
  readonly start: number;
  readonly end: number;
}

export interface CoalesceOptions {
  /** spark.sql.adaptive.advisoryPartitionSizeInBytes */
  readonly advisoryPartitionBytes: number;
  /** spark.sql.adaptive.coalescePartitions.minPartitionSize */
  readonly minPartitionBytes: number;
  /** The default parallelism under parallelismFirst, else 1. */
  readonly minNumPartitions: number;
}

/** Contiguous ranges of the partitions with `sizes` bytes each (steps 1–3). */
export function coalescePartitions(sizes: readonly number[], options: CoalesceOptions): PartitionRange[] {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  // Spark's floor of 16 bytes keeps the target above zero for an empty shuffle.
  const maxTargetSize = Math.max(Math.ceil(total / options.minNumPartitions), 16);
  const targetSize = Math.max(Math.min(maxTargetSize, options.advisoryPartitionBytes), options.minPartitionBytes);
  const ranges: PartitionRange[] = [];
  let start = 0;
  let rangeBytes = 0;
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i]!;
    if (i > start && rangeBytes + size > targetSize) {
      if (rangeBytes > 0) ranges.push({ start, end: i });
      start = i;
      rangeBytes = size;
    } else {
      rangeBytes += size;
    }
  }
  if (rangeBytes > 0) ranges.push({ start, end: sizes.length });
  if (ranges.length === 0) ranges.push({ start: 0, end: sizes.length });
  return ranges;
}
