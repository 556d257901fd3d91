/**
 * Block bytes are a standard Arrow IPC stream with LZ4_FRAME body compression. The check that
 * they read back in "any Arrow implementation" uses a second, independent reader written here:
 * the encapsulated-message framing and the flatbuffer headers parsed by hand, and the LZ4
 * frames decoded by a small decoder of the LZ4 frame and block formats (not lz4-napi).
 */
import { Field, Int64, makeData, RecordBatch, Schema, Struct } from 'apache-arrow';
import { describe, expect, test } from 'vitest';
import { SchemaMismatchError } from '../../src/errors.js';
import { batchBytes, deserialize, SerializationStream, serializeBatches } from '../../src/storage/serialization.js';
import { bytesBatch, contentOf } from './helpers.js';

function int64Batch(values: BigInt64Array): RecordBatch {
  const field = new Field('v', new Int64(), false);
  const data = makeData({ type: new Int64(), length: values.length, nullCount: 0, data: values });
  return new RecordBatch(new Schema([field]), makeData({ type: new Struct([field]), length: values.length, nullCount: 0, children: [data] }));
}

// ---- an independent reader ------------------------------------------------------------------

/** A flatbuffer table: field `i`'s absolute position, or undefined when absent. */
function table(buf: DataView, at: number): (field: number) => number | undefined {
  const vtable = at - buf.getInt32(at, true);
  const vtableSize = buf.getUint16(vtable, true);
  return (field) => {
    const slot = 4 + 2 * field;
    if (slot >= vtableSize) return undefined;
    const offset = buf.getUint16(vtable + slot, true);
    return offset === 0 ? undefined : at + offset;
  };
}

interface RawMessage {
  headerType: number;
  bodyLength: number;
  /** RecordBatch only: rows, buffers (offset, length), compression codec or null. */
  length?: number;
  buffers?: Array<[number, number]>;
  codec?: number | null;
  body: Uint8Array;
}

/** Arrow's encapsulated message format: 0xFFFFFFFF, int32 metadata size, Message, body. */
function readMessages(bytes: Uint8Array, count = Number.POSITIVE_INFINITY): RawMessage[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const messages: RawMessage[] = [];
  let pos = 0;
  while (messages.length < count) {
    expect(view.getUint32(pos, true)).toBe(0xffffffff);
    const metadataSize = view.getInt32(pos + 4, true);
    pos += 8;
    if (metadataSize === 0) break; // end of stream
    const root = pos + view.getUint32(pos, true);
    const message = table(view, root);
    const headerType = view.getUint8(message(1)!);
    // Absent fields take their default (flatbuffers omits them): a Schema's bodyLength is 0.
    const bodyLengthField = message(3);
    const bodyLength = bodyLengthField === undefined ? 0 : Number(view.getBigInt64(bodyLengthField, true));
    const headerField = message(2)!;
    const header = headerField + view.getUint32(headerField, true);
    const body = bytes.subarray(pos + metadataSize, pos + metadataSize + bodyLength);
    const raw: RawMessage = { headerType, bodyLength, body };
    if (headerType === 3) {
      const batch = table(view, header);
      raw.length = Number(view.getBigInt64(batch(0)!, true));
      const buffersField = batch(2)!;
      const vector = buffersField + view.getUint32(buffersField, true);
      const count = view.getUint32(vector, true);
      raw.buffers = Array.from({ length: count }, (_, i) => [
        Number(view.getBigInt64(vector + 4 + 16 * i, true)),
        Number(view.getBigInt64(vector + 12 + 16 * i, true)),
      ]);
      const compressionField = batch(3);
      if (compressionField === undefined) raw.codec = null;
      else {
        const compression = table(view, compressionField + view.getUint32(compressionField, true));
        raw.codec = compression(0) === undefined ? 0 : view.getInt8(compression(0)!);
      }
    }
    messages.push(raw);
    pos += metadataSize + bodyLength;
  }
  if (count === Number.POSITIVE_INFINITY) expect(pos).toBe(bytes.byteLength);
  return messages;
}

/** The LZ4 frame format (magic 0x184D2204) and block format, decoded by hand. */
function lz4FrameDecode(src: Uint8Array): Uint8Array {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  expect(view.getUint32(0, true)).toBe(0x184d2204);
  const flg = src[4]!;
  expect(flg >> 6).toBe(1);
  let ip = 6 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
  const out: number[] = [];
  for (;;) {
    const blockSize = view.getUint32(ip, true);
    ip += 4;
    if (blockSize === 0) break;
    const size = blockSize & 0x7fffffff;
    if (blockSize & 0x80000000) {
      for (let i = 0; i < size; i++) out.push(src[ip + i]!);
    } else {
      const end = ip + size;
      let p = ip;
      while (p < end) {
        const token = src[p++]!;
        let literals = token >> 4;
        if (literals === 15) for (let b = 255; b === 255; ) literals += b = src[p++]!;
        for (let i = 0; i < literals; i++) out.push(src[p++]!);
        if (p >= end) break;
        const offset = src[p]! | (src[p + 1]! << 8);
        p += 2;
        let match = token & 15;
        if (match === 15) for (let b = 255; b === 255; ) match += b = src[p++]!;
        match += 4;
        const from = out.length - offset;
        for (let i = 0; i < match; i++) out.push(out[from + i]!);
      }
    }
    ip += size + (flg & 0x10 ? 4 : 0);
  }
  return Uint8Array.from(out);
}

/** A body buffer: 8-byte uncompressed length (−1: stored as is), then an LZ4 frame. */
function decompressBuffer(bytes: Uint8Array): Uint8Array {
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true);
  if (bytes.byteLength === 0) return bytes;
  if (length === -1n) return bytes.subarray(8);
  const decoded = lz4FrameDecode(bytes.subarray(8));
  expect(BigInt(decoded.byteLength)).toBe(length);
  return decoded;
}

// ---- tests ----------------------------------------------------------------------------------

describe('serialization', () => {
  test('an LZ4 block is an IPC stream another reader parses: schema, batches, LZ4_FRAME buffers, end marker', () => {
    const values = BigInt64Array.from({ length: 5000 }, (_, i) => BigInt(i % 97) * 1_000_003n);
    const bytes = serializeBatches([int64Batch(values), int64Batch(values.slice(0, 10))], 'lz4', 4096).toUint8Array();
    const messages = readMessages(bytes);
    expect(messages.map((m) => m.headerType)).toEqual([1, 3, 3]); // Schema, RecordBatch, RecordBatch
    const first = messages[1]!;
    expect(first.length).toBe(5000);
    expect(first.codec).toBe(0); // CompressionType.LZ4_FRAME
    // Buffers of the int64 column: validity (empty), values.
    const [, valuesBuffer] = first.buffers!;
    const decoded = decompressBuffer(first.body.subarray(valuesBuffer![0], valuesBuffer![0] + valuesBuffer![1]));
    expect(new BigInt64Array(decoded.buffer, decoded.byteOffset, 5000)).toEqual(values);
    expect(valuesBuffer![1]).toBeLessThan(40000); // it did compress
  });

  test("without compression the stream has no BodyCompression and the values are the body's bytes", () => {
    const values = BigInt64Array.from({ length: 100 }, (_, i) => BigInt(i) - 50n);
    const bytes = serializeBatches([int64Batch(values)], 'none', 1024).toUint8Array();
    const [, batch] = readMessages(bytes);
    expect(batch!.codec).toBeNull();
    const [, valuesBuffer] = batch!.buffers!;
    const body = Uint8Array.from(batch!.body.subarray(valuesBuffer![0], valuesBuffer![0] + valuesBuffer![1]));
    expect(new BigInt64Array(body.buffer, 0, 100)).toEqual(values);
  });

  test.each(['lz4', 'none'] as const)('%s: batches round-trip through chunks of any size; no batches is no bytes', (compression) => {
    const batches = [bytesBatch(3000, 1), bytesBatch(10, 2), bytesBatch(70000, 3)];
    for (const chunkSize of [1, 7, 4096, 1 << 20]) {
      const bytes = serializeBatches(batches, compression, chunkSize);
      expect(bytes.chunks.every((c) => c.byteLength <= chunkSize)).toBe(true);
      expect(contentOf([...deserialize(bytes.chunks)])).toEqual(contentOf(batches));
    }
    expect(serializeBatches([], compression, 1024).size).toBe(0);
    expect([...deserialize([])]).toEqual([]);
  });

  test('a batch of another schema is refused; batchBytes counts every buffer', () => {
    const values = BigInt64Array.from([1n, 2n, 3n]);
    expect(() => serializeBatches([int64Batch(values), bytesBatch(3, 1)], 'lz4', 1024)).toThrow(SchemaMismatchError);
    expect(batchBytes(int64Batch(values))).toBe(24);
    expect(batchBytes(bytesBatch(100, 1))).toBe(100);
  });
  test('the file format (output files) carries the same conforming LZ4 buffers, between its magic and its footer', () => {
    const values = BigInt64Array.from({ length: 3000 }, (_, i) => BigInt(i % 13) * 7n);
    const chunks: Uint8Array[] = [];
    const stream = new SerializationStream('lz4', 1000, (chunk) => void chunks.push(chunk), 'file');
    stream.write(int64Batch(values));
    stream.finish();
    const bytes = Buffer.concat(chunks);
    expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
    expect(bytes.subarray(bytes.byteLength - 6).toString('latin1')).toBe('ARROW1');
    // apache-arrow's file writer keeps the schema in the footer only: the first message after
    // the magic is the batch.
    const [batch] = readMessages(bytes.subarray(8), 1);
    expect([batch!.headerType, batch!.codec, batch!.length]).toEqual([3, 0, 3000]);
    const [, valuesBuffer] = batch!.buffers!;
    // decompressBuffer checks the prefix against the decoded length (apache-arrow writes the
    // compressed length there, which Arrow C++ readers reject).
    const decoded = decompressBuffer(batch!.body.subarray(valuesBuffer![0], valuesBuffer![0] + valuesBuffer![1]));
    expect(new BigInt64Array(decoded.buffer, decoded.byteOffset, 3000)).toEqual(values);
  });
});
