import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeVector, Table, tableToIPC } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import {
  InvalidArgumentError,
  InvalidHandleError,
  InvalidPageStateError,
  NATIVE_ERROR_CODES,
  errorFromCode,
} from '../../src/errors.js';
import { addon, type BlockHandle, type BypassWriterHandle, type PageTableHandle, PartitionerKind, PhysicalType } from '../../src/native/addon.js';
import { openNativeSplit } from '../../src/plan/sources.js';
import { scratchDir } from '../support/leaks.js';

describe('native addon contract', () => {
  test('every error code the addon raises maps to a TypeScript class with the same code', () => {
    expect([...addon.errorCodes()].sort()).toEqual([...NATIVE_ERROR_CODES].sort());
    for (const code of addon.errorCodes()) {
      const error = errorFromCode(code, 'x');
      expect(error.code === code || (error.code === 'INTERNAL' && code === 'INTERNAL')).toBe(true);
    }
  });

  test('a handle of the wrong kind throws INVALID_HANDLE instead of crashing', () => {
    const table = addon.pageTableCreate();
    const block = addon.allocatorAllocate(16)!;
    expect(() => addon.pageTableLivePages(block as unknown as PageTableHandle)).toThrow(InvalidHandleError);
    expect(() => addon.blockSize(table as unknown as BlockHandle)).toThrow(InvalidHandleError);
    expect(() => addon.pageTableFreePage(table, {} as BlockHandle)).toThrow(/argument 'block' must be a MemoryBlock handle/);
    expect(() => addon.pageTableLivePages(undefined as unknown as PageTableHandle)).toThrow(InvalidHandleError);
    expect(() => addon.blockSize(42 as unknown as BlockHandle)).toThrow(InvalidHandleError);
    addon.allocatorFree(block);
    addon.pageTableClose(table);
  });

  test('the bypass writer checks its handle, its buffer\'s owner and its order of calls', async () => {
    const table = addon.pageTableCreate();
    const other = addon.pageTableCreate();
    const writer = addon.bypassWriterCreate(table, {
      columns: [{ physical: PhysicalType.INT, width: 8, decimalFitsInt64: false }],
      partitioner: { kind: PartitionerKind.HASH, numPartitions: 2, hashColumns: [0] },
      maxRows: 100,
      compress: false,
      schemaMessage: new Uint8Array(8),
    });
    expect(() => addon.bypassWriterState(table as unknown as BypassWriterHandle)).toThrow(InvalidHandleError);
    expect(() => addon.bypassWriterSetBuffer(writer, table as unknown as BlockHandle)).toThrow(InvalidHandleError);
    const { minimumBufferBytes } = addon.bypassWriterState(writer);
    // A page of another task's table is not this writer's to use.
    const foreign = addon.pageTableAllocatePage(other, minimumBufferBytes)!;
    expect(() => addon.bypassWriterSetBuffer(writer, foreign)).toThrow(InvalidPageStateError);
    const small = addon.pageTableAllocatePage(table, Math.max(1, minimumBufferBytes - 128))!;
    expect(() => addon.bypassWriterSetBuffer(writer, small)).toThrow(/too small/);
    const batch = { numRows: 1, columns: [{ values: new BigInt64Array([7n]) }] };
    await expect(addon.bypassWriterWrite(writer, batch as never)).rejects.toThrow(/setFiles\(\) first/);
    addon.bypassWriterClose(writer);
    addon.bypassWriterClose(writer);
    expect(() => addon.bypassWriterState(writer)).toThrow(InvalidHandleError);
    addon.pageTableClose(table);
    addon.pageTableClose(other);
  });

  test('a closed page table throws a clear error on every call, and closing twice is safe', () => {
    const table = addon.pageTableCreate();
    const page = addon.pageTableAllocatePage(table, 128)!;
    expect(addon.pageTableClose(table)).toBe(128);
    expect(addon.pageTableClose(table)).toBe(0);
    expect(() => addon.pageTableAllocatePage(table, 8)).toThrow('the PageTable handle is closed');
    expect(() => addon.pageTableLivePages(table)).toThrow(InvalidHandleError);
    // The page's handle outlives the table and reports it was freed.
    expect(addon.blockPageNumber(page)).toBe(-3);
  });

  test('byte counts must be whole numbers from 0 to 2^53 − 1; addresses must be bigint', () => {
    const table = addon.pageTableCreate();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, '8', 8n]) {
      expect(() => addon.pageTableAllocatePage(table, bad as number)).toThrow(InvalidArgumentError);
    }
    expect(() => addon.decodeOffset(5 as unknown as bigint)).toThrow(InvalidArgumentError);
    expect(() => addon.decodeOffset(1n << 64n)).toThrow(InvalidArgumentError);
    expect(addon.pageTableClose(table)).toBe(0);
  });

  test('an address on a page that is not live is refused', () => {
    const table = addon.pageTableCreate();
    expect(() => addon.pageTableAbsoluteAddress(table, addon.encodePageNumberAndOffset(3, 0n))).toThrow(/not live/);
    addon.pageTableClose(table);
  });

  test('blockWrite and blockRead copy within a live block only', () => {
    const block = addon.allocatorAllocate(16)!;
    addon.blockWrite(block, 4, Uint8Array.of(1, 2, 3));
    const copy = addon.blockRead(block, 3, 5);
    expect([...copy]).toEqual([addon.blockRead(block, 3, 1)[0], 1, 2, 3, addon.blockRead(block, 7, 1)[0]]);
    // The copy is JavaScript's own: changing the block later does not change it.
    addon.blockWrite(block, 4, Uint8Array.of(9));
    expect(copy[1]).toBe(1);
    expect(() => addon.blockWrite(block, 14, Uint8Array.of(1, 2, 3))).toThrow(InvalidArgumentError);
    expect(() => addon.blockRead(block, 17, 0)).toThrow(/outside the block of 16 bytes/);
    expect(() => addon.blockWrite(block, 0, [1, 2] as unknown as Uint8Array)).toThrow(/must be a typed array/);
    expect(addon.blockRead(block, 16, 0).byteLength).toBe(0);
    addon.allocatorFree(block);
    expect(() => addon.blockRead(block, 0, 1)).toThrow(InvalidPageStateError);
    expect(() => addon.blockWrite(block, 0, Uint8Array.of(1))).toThrow(InvalidPageStateError);
  });

  test('ipcWriteMessage writes into a live block of the message\'s size only; sliced bits are refused', async () => {
    const types = [{ physical: PhysicalType.INT, width: 8, decimalFitsInt64: false }] as never;
    const batch = { numRows: 3, columns: [{ validity: null, validityOffset: 0, values: new BigInt64Array([1n, 2n, 3n]), valuesBitOffset: 0, offsets: null }] };
    const size = addon.ipcMessageBytes(batch, types);
    const short = addon.allocatorAllocate(size - 8)!;
    await expect(addon.ipcWriteMessage(short, batch, types)).rejects.toThrow(/needs more than the/);
    addon.allocatorFree(short);
    expect(() => addon.ipcWriteMessage(short, batch, types)).toThrow(InvalidPageStateError);
    expect(() => addon.ipcWriteMessage(batch as never, batch, types)).toThrow(InvalidHandleError);
    const block = addon.allocatorAllocate(size)!;
    expect(await addon.ipcWriteMessage(block, batch, types)).toBe(size);
    addon.allocatorFree(block);
    const sliced = { numRows: 3, columns: [{ ...batch.columns[0]!, validity: Uint8Array.of(0xff), validityOffset: 2 }] };
    expect(() => addon.ipcMessageBytes(sliced, types)).toThrow(/must start at bit 0/);
  });

  test('debug fill can be switched at run time', () => {
    const was = addon.allocatorDebugFill();
    addon.allocatorSetDebugFill(!was);
    expect(addon.allocatorDebugFill()).toBe(!was);
    addon.allocatorSetDebugFill(was);
  });

  test('constants are Spark’s', () => {
    expect(addon.constants).toEqual({
      PAGE_NUMBER_BITS: 13,
      OFFSET_BITS: 51,
      PAGE_TABLE_SIZE: 8192,
      MAXIMUM_PAGE_SIZE_BYTES: 17_179_869_176,
    });
  });
});

describe('native sorter contract', () => {
  test('an array that is not a granted page of the task is refused, and freed memory is never written', async () => {
    const table = addon.pageTableCreate();
    const other = addon.pageTableCreate();
    const columns = [{ physical: 0, width: 8, decimalFitsInt64: false }] as never;
    const sorter = addon.sorterCreate(table, { columns, keys: [], codec: 0, spillBlockBytes: 4096 });
    const aggregator = addon.aggregatorCreate(table, {
      inputTypes: columns,
      numKeys: 1,
      mode: 2,
      aggregates: [{ function: 0, inputColumn: 0, name: 'count(*)' }],
      codec: 0,
      spillBlockBytes: 4096,
    });
    const foreign = addon.pageTableAllocatePage(other, 1024)!;
    const direct = addon.allocatorAllocate(1024)!;
    for (const block of [foreign, direct]) {
      expect(() => addon.sorterReplacePointerArray(sorter, block)).toThrow(InvalidPageStateError);
      expect(() => addon.aggregatorAdoptSlotArray(aggregator, block)).toThrow(InvalidPageStateError);
    }
    // A slot array freed under the aggregation (the task cleaned up too early) stops the next
    // insert instead of letting it write into freed memory.
    const array = addon.pageTableAllocatePage(table, 1024)!;
    await addon.aggregatorAdoptSlotArray(aggregator, array);
    addon.pageTableFreePage(table, array);
    const column = { validity: null, validityOffset: 0, values: new BigInt64Array([1n]), valuesBitOffset: 0, offsets: null };
    const batch = { numRows: 1, columns: [column] };
    await expect(addon.aggregatorInsert(aggregator, batch, 0)).rejects.toThrow(InvalidPageStateError);
    addon.aggregatorClose(aggregator);
    addon.sorterClose(sorter);
    addon.allocatorFree(direct);
    addon.pageTableClose(other);
    addon.pageTableClose(table);
  });

  test('an insert from a reader checks both handles and the columns, keeps the batch it stopped in (the reader refuses next() meanwhile), and counts every row once', async () => {
    const path = join(scratchDir, 'pull.arrow');
    const k = BigInt64Array.from({ length: 3000 }, (_, i) => BigInt(i % 7));
    const v = Float64Array.from({ length: 3000 }, (_, i) => i / 2);
    const table = new Table([0, 1000, 2000].map((from) => new Table({ k: makeVector(k.slice(from, from + 1000)), v: makeVector(v.slice(from, from + 1000)) }).batches[0]!));
    mkdirSync(scratchDir, { recursive: true });
    writeFileSync(path, tableToIPC(table, 'file'));
    const input = (await openNativeSplit({ kind: 'ipcFile', path, format: 'file', numBatches: 3, numPartitions: 1 }, 0, () => undefined))!;
    const pages = addon.pageTableCreate();
    const int64 = { physical: PhysicalType.INT, width: 8, decimalFitsInt64: false };
    const aggregator = addon.aggregatorCreate(pages, {
      inputTypes: [int64],
      numKeys: 1,
      mode: 2,
      aggregates: [{ function: 0, inputColumn: 0, name: 'count(*)' }],
      codec: 0,
      spillBlockBytes: 4096,
    });
    const reader = input.reader;
    try {
      expect(() => addon.aggregatorInsertFromReader(reader as never, reader, [0], 1)).toThrow(InvalidHandleError);
      expect(() => addon.aggregatorInsertFromReader(aggregator, aggregator as never, [0], 1)).toThrow(InvalidHandleError);
      expect(() => addon.aggregatorInsertFromReader(aggregator, reader, [1], 1)).toThrow(InvalidArgumentError); // float64 for int64
      expect(() => addon.aggregatorInsertFromReader(aggregator, reader, [0, 1], 1)).toThrow(/takes 1 input columns/);
      expect(() => addon.aggregatorInsertFromReader(aggregator, reader, [2], 1)).toThrow(InvalidArgumentError);
      expect(() => addon.aggregatorInsertFromReader(aggregator, reader, [0], 0)).toThrow(/maxBatches/);
      // No slot array yet: it stops at the first row of the first batch and keeps that batch.
      const first = await addon.aggregatorInsertFromReader(aggregator, reader, [0], 8);
      expect(first).toEqual({ rows: 0, needPageBytes: 0, needArray: true, done: false });
      await expect(addon.segmentReaderNext(reader)).rejects.toThrow(/inserting this reader's batches/);
      const array = addon.pageTableAllocatePage(pages, 64 * 16)!;
      await addon.aggregatorAdoptSlotArray(aggregator, array);
      let rows = 0;
      for (let step = 0; step < 20; step++) {
        const progress = await addon.aggregatorInsertFromReader(aggregator, reader, [0], 1);
        rows += progress.rows;
        if (progress.needPageBytes > 0) addon.aggregatorAddDataPage(aggregator, addon.pageTableAllocatePage(pages, Math.max(progress.needPageBytes, 4096))!);
        if (progress.done) break;
      }
      expect(rows).toBe(3000);
      expect(addon.aggregatorMetrics(aggregator).rowsIn).toBe(3000);
      expect((await addon.segmentReaderNext(reader)).numRows).toBe(0);
    } finally {
      addon.aggregatorClose(aggregator);
      input.close();
      addon.pageTableClose(pages);
      rmSync(path);
    }
  });

  test('malformed options and batches raise INVALID_ARGUMENT, not a crash', () => {
    const table = addon.pageTableCreate();
    const columns = [{ physical: 0, width: 8, decimalFitsInt64: false }] as never;
    expect(() => addon.sorterCreate(table, { columns: [42] as never, keys: [], codec: 0, spillBlockBytes: 4096 })).toThrow(
      'column 0 must be an object',
    );
    expect(() => addon.sorterCreate(table, { columns, keys: ['k'] as never, codec: 0, spillBlockBytes: 4096 })).toThrow(
      'sort key 0 must be an object',
    );
    const sorter = addon.sorterCreate(table, { columns, keys: [], codec: 0, spillBlockBytes: 4096 });
    expect(() => addon.sorterInsert(sorter, { numRows: 1, columns: [7] as never }, 0)).toThrow(InvalidArgumentError);
    addon.sorterClose(sorter);
    expect(() => addon.sorterState(sorter)).toThrow(InvalidHandleError);
    addon.pageTableClose(table);
  });

  test('the shuffle sorter checks its handle, partitioner and bounds, and refuses use after close', async () => {
    const table = addon.pageTableCreate();
    const columns = [{ physical: 0, width: 8, decimalFitsInt64: false }] as never;
    const sorter = addon.sorterCreate(table, { columns, keys: [], codec: 0, spillBlockBytes: 4096 });
    expect(() => addon.shuffleSorterState(sorter as never)).toThrow(InvalidHandleError);
    addon.sorterClose(sorter);
    expect(() => addon.shuffleSorterCreate(table, { columns, partitioner: { kind: 9 as never, numPartitions: 2 } })).toThrow('unknown partitioner kind');
    expect(() => addon.shuffleSorterCreate(table, { columns, partitioner: { kind: 2, numPartitions: 0, hashColumns: [0] } })).toThrow(InvalidArgumentError);
    expect(() => addon.shuffleSorterCreate(table, { columns, partitioner: { kind: 2, numPartitions: 4, hashColumns: [3] } })).toThrow(InvalidArgumentError);
    // Range partitioning into 3 partitions needs 2 bound rows.
    expect(() => addon.shuffleSorterCreate(table, { columns, partitioner: { kind: 3, numPartitions: 3, sortKeys: [{ column: 0, descending: false, nullsFirst: true }] } })).toThrow(
      'needs 2 bound rows',
    );
    const shuffle = addon.shuffleSorterCreate(table, { columns, partitioner: { kind: 1, numPartitions: 2 } });
    await expect(addon.shuffleSorterNextBatch(shuffle, 10)).rejects.toThrow(/sort\(\) the shuffle sorter/);
    addon.shuffleSorterClose(shuffle);
    addon.shuffleSorterClose(shuffle);
    expect(() => addon.shuffleSorterState(shuffle)).toThrow(InvalidHandleError);
    addon.pageTableClose(table);
  });
});
