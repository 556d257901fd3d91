/**
 * Where each map output of each shuffle is and how large its partitions are: Spark's
 * MapOutputTrackerMaster, on the driver. Executors never ask it: the scheduler puts the blocks
 * a reduce task reads into the task's description (what it needs: location, map id, sizes).
 *
 * A map output is registered when its task succeeds and unregistered when a fetch of it fails
 * (or its executor is lost); a shuffle is available when every map index has an output, which
 * is how the DAG scheduler knows a stage can be skipped or must run again.
 */
import { InvalidArgumentError } from '../errors.js';

/** Spark's MapStatus: where a map output is and its partitions' sizes. */
export interface MapStatus {
  readonly executorId: string;
  /** The map task's attempt id, which names its files. */
  readonly mapId: number;
  readonly mapIndex: number;
  readonly sizes: readonly number[];
}

/** A non-empty segment a reducer must fetch. */
export interface ShuffleBlockRef {
  readonly executorId: string;
  readonly shuffleId: number;
  readonly mapId: number;
  readonly mapIndex: number;
  readonly reduceId: number;
  readonly size: number;
}

interface ShuffleStatus {
  readonly numMaps: number;
  readonly numPartitions: number;
  readonly outputs: (MapStatus | undefined)[];
}

export class MapOutputTracker {
  private readonly shuffles = new Map<number, ShuffleStatus>();

  registerShuffle(shuffleId: number, numMaps: number, numPartitions: number): void {
    if (this.shuffles.has(shuffleId)) return;
    this.shuffles.set(shuffleId, { numMaps, numPartitions, outputs: new Array<MapStatus | undefined>(numMaps).fill(undefined) });
  }

  registerMapOutput(shuffleId: number, status: MapStatus): void {
    const shuffle = this.status(shuffleId);
    if (status.sizes.length !== shuffle.numPartitions) {
      throw new InvalidArgumentError(`map output of shuffle ${shuffleId} has ${status.sizes.length} partitions, not ${shuffle.numPartitions}`);
    }
    shuffle.outputs[status.mapIndex] = status;
  }

  /** Forgets a map output (its fetch failed); returns it if it was registered. */
  unregisterMapOutput(shuffleId: number, mapIndex: number, mapId: number): MapStatus | undefined {
    const shuffle = this.shuffles.get(shuffleId);
    const status = shuffle?.outputs[mapIndex];
    if (!shuffle || status === undefined || status.mapId !== mapId) return undefined;
    shuffle.outputs[mapIndex] = undefined;
    return status;
  }

  /** Map indexes without an output. */
  missingMaps(shuffleId: number): number[] {
    const shuffle = this.status(shuffleId);
    return shuffle.outputs.flatMap((status, i) => (status === undefined ? [i] : []));
  }

  isAvailable(shuffleId: number): boolean {
    return this.shuffles.has(shuffleId) && this.missingMaps(shuffleId).length === 0;
  }

  /** The non-empty blocks of reduce partitions [start, end), by map index then reduce id. */
  blocksFor(shuffleId: number, start: number, end: number): ShuffleBlockRef[] {
    const shuffle = this.status(shuffleId);
    const blocks: ShuffleBlockRef[] = [];
    shuffle.outputs.forEach((status, mapIndex) => {
      if (status === undefined) throw new InvalidArgumentError(`map output ${mapIndex} of shuffle ${shuffleId} is missing`);
      for (let reduceId = start; reduceId < end; reduceId++) {
        const size = status.sizes[reduceId]!;
        if (size > 0) blocks.push({ executorId: status.executorId, shuffleId, mapId: status.mapId, mapIndex, reduceId, size });
      }
    });
    return blocks;
  }

  /** Every registered output of a shuffle (to delete its files). */
  outputs(shuffleId: number): MapStatus[] {
    return (this.shuffles.get(shuffleId)?.outputs ?? []).filter((s): s is MapStatus => s !== undefined);
  }

  /** Total bytes per reduce partition (for reports and tests). */
  partitionSizes(shuffleId: number): number[] {
    const shuffle = this.status(shuffleId);
    const sizes = new Array<number>(shuffle.numPartitions).fill(0);
    for (const status of shuffle.outputs) status?.sizes.forEach((size, i) => (sizes[i]! += size));
    return sizes;
  }

  unregisterShuffle(shuffleId: number): void {
    this.shuffles.delete(shuffleId);
  }

  get shuffleIds(): number[] {
    return [...this.shuffles.keys()];
  }

  private status(shuffleId: number): ShuffleStatus {
    const shuffle = this.shuffles.get(shuffleId);
    if (!shuffle) throw new InvalidArgumentError(`shuffle ${shuffleId} is not registered`);
    return shuffle;
  }
}
