// Arrow IPC record-batch messages, encoded and decoded natively: the shuffle's segments
// (spark-semantics §3.8, DESIGN.md §7) without a JavaScript IPC writer or reader in the loop.
//
// An encapsulated message (Arrow columnar format, "IPC streaming format"):
//   u32 0xFFFFFFFF (continuation), i32 metadata length M (M + 8 a multiple of 8),
//   M bytes: a flatbuffer Message (padded), then bodyLength bytes of body.
// The flatbuffer written here, at fixed places (offsets from its start; every table's
// 8-byte fields 8-aligned, every struct vector's elements 8-aligned, as flatbuffers verifiers
// check):
//      0  u32   root: uoffset of the Message table (16)
//      4  Message vtable: u16 12, u16 20, fields version 16, header_type 18, header 4,
//         bodyLength 8
//     16  Message table: i32 soffset 12; u32 header → RecordBatch table; i64 bodyLength;
//         i16 version (V5 = 4); u8 header_type (RecordBatch = 3)
//     40  RecordBatch vtable: u16 12, u16 24, fields length 8, nodes 4, buffers 16,
//         compression 20 (0 when uncompressed)
//     56  RecordBatch table: i32 soffset 16; u32 nodes; i64 length; u32 buffers; u32 compression
//     80  BodyCompression vtable: u16 8, u16 6, fields codec 4, method 5
//     88  BodyCompression table: i32 soffset 8; u8 codec (LZ4_FRAME = 0); u8 method (BUFFER = 0)
//    100  nodes:   u32 n, then n × {i64 length, i64 null_count}      (one per column)
//         buffers: u32 m, then m × {i64 offset, i64 length}          (offsets into the body)
// Buffers per column: validity (length 0 when the column has no null), then offsets (var-width
// only), then values (bits for booleans). Each body buffer starts 8-aligned. Compressed, a
// buffer is its uncompressed length as an i64, then one LZ4 frame (lz4_frame.h); when the
// frame would not be smaller, the i64 is −1 and the bytes follow as they are. Empty buffers
// stay empty. Every integer is little-endian.
// Shared buffers: a buffer whose bytes equal an earlier buffer's in the same message is not
// written again; its entry repeats the earlier one's offset and length. A partial aggregation
// passing rows through (aggregate/partialState.ts) sends one column as sum, min and max: three
// equal buffers, compressed and written once (A2's lz4Compress was 18% of the job's CPU). The
// format reads buffers by offset and length and does not ask for them to be disjoint; Arrow
// C++, Rust and JS read such messages, and the decoder below copies a repeated entry's first
// decoding instead of decompressing it again.
//
// The decoder reads any writer's record-batch messages for the column types of column_types.h
// (Arrow C++, Rust, JS): it walks the flatbuffer through its vtables, checks every offset and
// length against the message, and raises kIpcCorrupt instead of reading outside it.
// Dictionary batches, ZSTD and types other than those the schema says are refused.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "arrow_output.h"
#include "byte_vector.h"
#include "column_types.h"

namespace tungsten {

enum class IpcCompression : uint8_t { kNone = 0, kLz4Frame = 1 };

// `n` rounded up to a multiple of 8: where an IPC body's buffers start (and how the bypass
// writer lays out the buffers it encodes from).
constexpr uint64_t padTo8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

// One column's buffers to encode, borrowed.
struct IpcColumnBuffers {
  uint64_t nullCount = 0;
  const uint8_t* validity = nullptr;  // null when nullCount == 0
  uint64_t validityBytes = 0;
  const uint8_t* offsets = nullptr;  // var-width only
  uint64_t offsetsBytes = 0;
  const uint8_t* values = nullptr;
  uint64_t valuesBytes = 0;
};

// The buffers of an output batch's column of `type`.
IpcColumnBuffers ipcBuffersOf(const ColumnType& type, const OutputColumn& column, uint64_t numRows);

// Appends the encapsulated record-batch message of `numRows` rows to `out`.
void appendRecordBatchMessage(const std::vector<ColumnType>& types, const std::vector<IpcColumnBuffers>& columns,
                              uint64_t numRows, IpcCompression compression, ByteVector& out);

// The buffers of a borrowed batch's column. Validity and boolean bits must start at bit 0
// (kInvalidArgument otherwise: a sliced batch is encoded by another writer); a var-width
// column's values run to its last offset, which the caller has checked lies within them. The
// null count is counted from the validity bits.
IpcColumnBuffers ipcBuffersOf(const ColumnView& column, uint64_t numRows);

// A borrowed batch's message without compression, written into memory sized beforehand (an
// off-heap block TypeScript allocated): recordBatchMessageBytes says how many bytes it takes,
// and writeRecordBatchMessage writes it into `out` (throwing, having written part of it, when
// `capacity` is short); returns the bytes written.
uint64_t recordBatchMessageBytes(const BatchView& batch);
uint64_t writeRecordBatchMessage(const BatchView& batch, uint8_t* out, uint64_t capacity);

// What an encapsulated message's prefix says.
struct IpcMessagePrefix {
  uint64_t prefixBytes = 0;    // 8 (continuation + length) or 4 (pre-1.0 streams: length only)
  uint64_t metadataBytes = 0;  // 0: the end-of-stream marker
};

// Reads the prefix at `bytes` (at least 8 bytes, or 4 when that is all there is).
IpcMessagePrefix readMessagePrefix(const uint8_t* bytes, uint64_t available);

enum class IpcMessageKind : uint8_t { kSchema, kRecordBatch };

struct IpcMessageHeader {
  IpcMessageKind kind = IpcMessageKind::kSchema;
  uint64_t bodyBytes = 0;
};

// Reads a message's metadata (the flatbuffer, metadataBytes long): its kind and body length.
IpcMessageHeader readMessageHeader(const uint8_t* metadata, uint64_t metadataBytes);

// A record batch's body: in memory, or still in its file, read a buffer at a time straight
// into the output buffers (an uncompressed body is then copied once by the kernel, instead of
// read into memory and copied again: that second copy was 4–6% of a job reading a 320 MB file).
struct IpcBody {
  uint64_t size = 0;
  // The whole body, or null when it is read through `read`.
  const uint8_t* memory = nullptr;
  // Reads body bytes [offset, offset + length) into `into`; the decoder has checked that they
  // lie within `size`.
  std::function<void(uint64_t offset, uint64_t length, uint8_t* into)> read;
};

// Decodes a record-batch message's body into output buffers (allocateOutputBuffer: the
// caller's memory once returned, as an operator's output batch is).
OutputBatch decodeRecordBatch(const std::vector<ColumnType>& types, const uint8_t* metadata, uint64_t metadataBytes,
                              const IpcBody& body);

inline OutputBatch decodeRecordBatch(const std::vector<ColumnType>& types, const uint8_t* metadata,
                                     uint64_t metadataBytes, const uint8_t* body, uint64_t bodyBytes) {
  return decodeRecordBatch(types, metadata, metadataBytes, IpcBody{bodyBytes, body, {}});
}

}  // namespace tungsten
