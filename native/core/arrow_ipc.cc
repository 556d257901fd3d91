#include "arrow_ipc.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "errors.h"
#include "lz4_frame.h"
#include "row_format.h"
#include "unaligned.h"

namespace tungsten {

namespace {

constexpr uint32_t kContinuation = 0xFFFFFFFFu;
constexpr int16_t kMetadataV5 = 4;
constexpr uint8_t kHeaderSchema = 1;
constexpr uint8_t kHeaderDictionaryBatch = 2;
constexpr uint8_t kHeaderRecordBatch = 3;
constexpr int8_t kCodecLz4Frame = 0;
constexpr int64_t kStoredUncompressed = -1;

// The fixed layout of the header comment.
constexpr uint32_t kMessageVtable = 4;
constexpr uint32_t kMessageTable = 16;
constexpr uint32_t kBatchVtable = 40;
constexpr uint32_t kBatchTable = 56;
constexpr uint32_t kCompressionVtable = 80;
constexpr uint32_t kCompressionTable = 88;
constexpr uint32_t kNodesVector = 100;
static_assert((kMessageTable + 8) % 8 == 0 && (kBatchTable + 8) % 8 == 0, "i64 fields 8-aligned");
static_assert((kNodesVector + 4) % 8 == 0, "struct vector elements 8-aligned");
static_assert(kCompressionTable + 6 <= kNodesVector, "BodyCompression fits before the nodes");

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC message is corrupt: " + what);
}

uint32_t buffersPerColumn(const ColumnType& type) { return type.physical == PhysicalType::kVarBinary ? 3 : 2; }

// Where a message is encoded: a ByteVector that grows, FixedBytes (memory sized beforehand) or
// CountingBytes (only the size). The encoder uses size(), data(), resize(n), resize(n, 0).
class FixedBytes {
 public:
  static constexpr bool kStores = true;
  FixedBytes(uint8_t* data, uint64_t capacity) : data_(data), capacity_(capacity) {}
  uint64_t size() const { return size_; }
  uint8_t* data() { return data_; }
  void resize(uint64_t n) {
    if (n > capacity_) {
      throw Error(ErrorCode::kInvalidArgument, "the message needs more than the " + std::to_string(capacity_) +
                                                   " bytes it was given (recordBatchMessageBytes says how many)");
    }
    size_ = n;
  }
  void resize(uint64_t n, uint8_t fill) {
    const uint64_t before = size_;
    resize(n);
    if (n > before) std::memset(data_ + before, fill, n - before);
  }

 private:
  uint8_t* data_;
  uint64_t capacity_;
  uint64_t size_ = 0;
};

class CountingBytes {
 public:
  static constexpr bool kStores = false;
  uint64_t size() const { return size_; }
  uint8_t* data() { return nullptr; }
  void resize(uint64_t n) { size_ = n; }
  void resize(uint64_t n, uint8_t) { size_ = n; }

 private:
  uint64_t size_ = 0;
};

struct GrowingBytes {
  static constexpr bool kStores = true;
  ByteVector& bytes;
  uint64_t size() const { return bytes.size(); }
  uint8_t* data() { return bytes.data(); }
  void resize(uint64_t n) { bytes.resize(n); }
  void resize(uint64_t n, uint8_t fill) { bytes.resize(n, fill); }
};

// Appends one body buffer at an 8-aligned offset; returns its (offset, length) in the body.
template <typename Out>
std::pair<uint64_t, uint64_t> appendBodyBuffer(Out& out, uint64_t bodyStart, const uint8_t* data, uint64_t length,
                                               IpcCompression compression) {
  const uint64_t offset = out.size() - bodyStart;
  if (length == 0) return {offset, 0};
  if (compression == IpcCompression::kNone) {
    const size_t at = out.size();
    out.resize(at + length);
    if constexpr (Out::kStores) std::memcpy(out.data() + at, data, length);
  } else if constexpr (Out::kStores) {
    const size_t at = out.size();
    out.resize(at + 8 + lz4FrameBound(length));
    const size_t frame = lz4FrameCompress(data, length, out.data() + at + 8);
    if (frame < length) {
      storeUnaligned<int64_t>(out.data() + at, static_cast<int64_t>(length));
      out.resize(at + 8 + frame);
    } else {
      storeUnaligned<int64_t>(out.data() + at, kStoredUncompressed);
      std::memcpy(out.data() + at + 8, data, length);
      out.resize(at + 8 + length);
    }
  } else {
    throw Error(ErrorCode::kInvalidArgument, "a compressed message's size is known only once it is compressed");
  }
  const uint64_t written = out.size() - bodyStart - offset;
  out.resize(bodyStart + padTo8(offset + written), 0);
  return {offset, written};
}

// A flatbuffer table read through its vtable, every access bounds-checked.
class FlatTable {
 public:
  FlatTable(const uint8_t* buffer, uint64_t size, uint64_t position) : buffer_(buffer), size_(size), position_(position) {
    if (position > size || size - position < 4) corrupt("a table lies outside the metadata");
    const int64_t vtable = static_cast<int64_t>(position) - loadUnaligned<int32_t>(buffer + position);
    if (vtable < 0 || static_cast<uint64_t>(vtable) + 4 > size) corrupt("a vtable lies outside the metadata");
    vtable_ = static_cast<uint64_t>(vtable);
    vtableBytes_ = loadUnaligned<uint16_t>(buffer + vtable_);
    if (vtableBytes_ < 4 || vtableBytes_ % 2 != 0 || vtable_ + vtableBytes_ > size) corrupt("a vtable is malformed");
  }

  template <typename T>
  T scalar(uint32_t field, T fallback) const {
    const uint64_t at = fieldAt(field, sizeof(T));
    return at == 0 ? fallback : loadUnaligned<T>(buffer_ + at);
  }

  bool has(uint32_t field) const { return fieldOffset(field) != 0; }

  FlatTable table(uint32_t field) const { return FlatTable(buffer_, size_, target(field)); }

  // A vector of `elementBytes`-byte elements: where its elements start and how many.
  std::pair<const uint8_t*, uint64_t> vector(uint32_t field, uint64_t elementBytes) const {
    if (!has(field)) return {nullptr, 0};
    const uint64_t at = target(field);
    if (size_ - at < 4) corrupt("a vector lies outside the metadata");
    const uint64_t count = loadUnaligned<uint32_t>(buffer_ + at);
    if ((size_ - at - 4) / elementBytes < count) corrupt("a vector runs past the metadata");
    return {buffer_ + at + 4, count};
  }

 private:
  uint16_t fieldOffset(uint32_t field) const {
    const uint64_t entry = 4 + 2 * uint64_t{field};
    return entry + 2 <= vtableBytes_ ? loadUnaligned<uint16_t>(buffer_ + vtable_ + entry) : 0;
  }

  uint64_t fieldAt(uint32_t field, uint64_t bytes) const {
    const uint16_t offset = fieldOffset(field);
    if (offset == 0) return 0;
    if (position_ + offset + bytes > size_) corrupt("a field lies outside the metadata");
    return position_ + offset;
  }

  uint64_t target(uint32_t field) const {
    const uint64_t at = fieldAt(field, 4);
    if (at == 0) corrupt("a required field is missing");
    const uint64_t to = at + loadUnaligned<uint32_t>(buffer_ + at);
    if (to >= size_) corrupt("an offset points outside the metadata");
    return to;
  }

  const uint8_t* buffer_;
  uint64_t size_;
  uint64_t position_;
  uint64_t vtable_ = 0;
  uint16_t vtableBytes_ = 0;
};

FlatTable messageTable(const uint8_t* metadata, uint64_t metadataBytes) {
  if (metadataBytes < 4) corrupt("the metadata is shorter than a flatbuffer's root offset");
  return FlatTable(metadata, metadataBytes, loadUnaligned<uint32_t>(metadata));
}

}  // namespace

IpcColumnBuffers ipcBuffersOf(const ColumnType& type, const OutputColumn& column, uint64_t numRows) {
  IpcColumnBuffers buffers;
  buffers.nullCount = column.nullCount;
  if (column.nullCount > 0) {
    buffers.validity = column.validity.data.get();
    buffers.validityBytes = (numRows + 7) / 8;
  }
  if (type.physical == PhysicalType::kVarBinary) {
    buffers.offsets = column.offsets.data.get();
    buffers.offsetsBytes = column.offsets.size;
  }
  buffers.values = column.values.data.get();
  buffers.valuesBytes = column.values.size;
  return buffers;
}

namespace {

template <typename Out>
void encodeRecordBatchMessage(const std::vector<ColumnType>& types, const std::vector<IpcColumnBuffers>& columns,
                              uint64_t numRows, IpcCompression compression, Out& out) {
  uint64_t numBuffers = 0;
  for (const ColumnType& type : types) numBuffers += buffersPerColumn(type);
  const uint64_t nodesEnd = kNodesVector + 4 + 16 * columns.size();
  const uint64_t buffersVector = nodesEnd + 4;
  const uint64_t metadataBytes = buffersVector + 4 + 16 * numBuffers;  // a multiple of 8
  static_assert(kNodesVector % 8 == 4, "so nodesEnd and the metadata's end are multiples of 8");

  const size_t messageStart = out.size();
  out.resize(messageStart + 8 + metadataBytes, 0);
  const uint64_t bodyStart = out.size();
  std::vector<std::pair<uint64_t, uint64_t>> bodyBuffers;
  bodyBuffers.reserve(numBuffers);
  struct Written {
    const uint8_t* data;
    uint64_t length;
    std::pair<uint64_t, uint64_t> at;
  };
  std::vector<Written> written;
  written.reserve(numBuffers);
  // A buffer equal to one written before in this message points at that one's bytes (step
  // "shared buffers" in arrow_ipc.h). Comparing costs a memcmp that stops at the first
  // difference; the compression it saves is ~10× dearer per byte.
  auto append = [&](const uint8_t* data, uint64_t length) {
    if (length > 0) {
      for (const Written& earlier : written) {
        if (earlier.length == length && (earlier.data == data || std::memcmp(earlier.data, data, length) == 0)) {
          bodyBuffers.push_back(earlier.at);
          return;
        }
      }
    }
    bodyBuffers.push_back(appendBodyBuffer(out, bodyStart, data, length, compression));
    if (length > 0) written.push_back({data, length, bodyBuffers.back()});
  };
  for (uint32_t c = 0; c < columns.size(); ++c) {
    const IpcColumnBuffers& column = columns[c];
    append(column.validity, column.validityBytes);
    if (types[c].physical == PhysicalType::kVarBinary) append(column.offsets, column.offsetsBytes);
    append(column.values, column.valuesBytes);
  }
  const uint64_t bodyBytes = out.size() - bodyStart;
  if constexpr (!Out::kStores) return;

  uint8_t* m = out.data() + messageStart;
  storeUnaligned<uint32_t>(m, kContinuation);
  storeUnaligned<int32_t>(m + 4, static_cast<int32_t>(metadataBytes));
  uint8_t* fb = m + 8;
  storeUnaligned<uint32_t>(fb, kMessageTable);
  // Message
  const uint16_t messageVtable[] = {12, 20, 16, 18, 4, 8};
  std::memcpy(fb + kMessageVtable, messageVtable, sizeof messageVtable);
  storeUnaligned<int32_t>(fb + kMessageTable, kMessageTable - kMessageVtable);
  storeUnaligned<uint32_t>(fb + kMessageTable + 4, kBatchTable - (kMessageTable + 4));
  storeUnaligned<int64_t>(fb + kMessageTable + 8, static_cast<int64_t>(bodyBytes));
  storeUnaligned<int16_t>(fb + kMessageTable + 16, kMetadataV5);
  fb[kMessageTable + 18] = kHeaderRecordBatch;
  // RecordBatch
  const bool compressed = compression != IpcCompression::kNone;
  const uint16_t batchVtable[] = {12, 24, 8, 4, 16, static_cast<uint16_t>(compressed ? 20 : 0)};
  std::memcpy(fb + kBatchVtable, batchVtable, sizeof batchVtable);
  storeUnaligned<int32_t>(fb + kBatchTable, kBatchTable - kBatchVtable);
  storeUnaligned<uint32_t>(fb + kBatchTable + 4, static_cast<uint32_t>(kNodesVector - (kBatchTable + 4)));
  storeUnaligned<int64_t>(fb + kBatchTable + 8, static_cast<int64_t>(numRows));
  storeUnaligned<uint32_t>(fb + kBatchTable + 16, static_cast<uint32_t>(buffersVector - (kBatchTable + 16)));
  if (compressed) {
    storeUnaligned<uint32_t>(fb + kBatchTable + 20, kCompressionTable - (kBatchTable + 20));
    const uint16_t compressionVtable[] = {8, 6, 4, 5};
    std::memcpy(fb + kCompressionVtable, compressionVtable, sizeof compressionVtable);
    storeUnaligned<int32_t>(fb + kCompressionTable, kCompressionTable - kCompressionVtable);
    fb[kCompressionTable + 4] = static_cast<uint8_t>(kCodecLz4Frame);
    fb[kCompressionTable + 5] = 0;  // BUFFER
  }
  // nodes and buffers
  storeUnaligned<uint32_t>(fb + kNodesVector, static_cast<uint32_t>(columns.size()));
  for (uint32_t c = 0; c < columns.size(); ++c) {
    storeUnaligned<int64_t>(fb + kNodesVector + 4 + 16 * c, static_cast<int64_t>(numRows));
    storeUnaligned<int64_t>(fb + kNodesVector + 12 + 16 * c, static_cast<int64_t>(columns[c].nullCount));
  }
  storeUnaligned<uint32_t>(fb + buffersVector, static_cast<uint32_t>(numBuffers));
  for (uint64_t b = 0; b < numBuffers; ++b) {
    storeUnaligned<int64_t>(fb + buffersVector + 4 + 16 * b, static_cast<int64_t>(bodyBuffers[b].first));
    storeUnaligned<int64_t>(fb + buffersVector + 12 + 16 * b, static_cast<int64_t>(bodyBuffers[b].second));
  }
}

}  // namespace

void appendRecordBatchMessage(const std::vector<ColumnType>& types, const std::vector<IpcColumnBuffers>& columns,
                              uint64_t numRows, IpcCompression compression, ByteVector& out) {
  GrowingBytes growing{out};
  encodeRecordBatchMessage(types, columns, numRows, compression, growing);
}

IpcColumnBuffers ipcBuffersOf(const ColumnView& column, uint64_t numRows) {
  IpcColumnBuffers buffers;
  if (column.validity != nullptr) {
    if (column.validityBitOffset != 0) throw Error(ErrorCode::kInvalidArgument, "a validity bitmap must start at bit 0");
    buffers.validity = column.validity;
    buffers.validityBytes = (numRows + 7) / 8;
    uint64_t valid = 0;
    for (uint64_t i = 0; i < numRows / 8; ++i) valid += static_cast<uint64_t>(std::popcount(column.validity[i]));
    for (uint64_t i = numRows / 8 * 8; i < numRows; ++i) valid += column.isNull(i) ? 0 : 1;
    buffers.nullCount = numRows - valid;
  }
  if (column.type.physical == PhysicalType::kBool) {
    if (column.valuesBitOffset != 0) throw Error(ErrorCode::kInvalidArgument, "boolean values must start at bit 0");
    buffers.valuesBytes = (numRows + 7) / 8;
  } else if (column.type.physical == PhysicalType::kVarBinary) {
    buffers.offsets = column.offsets;
    buffers.offsetsBytes = (numRows + 1) * column.type.width;
    buffers.valuesBytes = varOffset(column, numRows);
  } else {
    buffers.valuesBytes = numRows * slotBytes(column.type);
  }
  buffers.values = column.values;
  return buffers;
}

namespace {

// A borrowed batch's column types and buffers, as the encoder takes them.
std::pair<std::vector<ColumnType>, std::vector<IpcColumnBuffers>> encoderInputOf(const BatchView& batch) {
  std::pair<std::vector<ColumnType>, std::vector<IpcColumnBuffers>> input;
  for (const ColumnView& column : batch.columns) {
    input.first.push_back(column.type);
    input.second.push_back(ipcBuffersOf(column, batch.numRows));
  }
  return input;
}

}  // namespace

uint64_t recordBatchMessageBytes(const BatchView& batch) {
  const auto [types, columns] = encoderInputOf(batch);
  CountingBytes counting;
  encodeRecordBatchMessage(types, columns, batch.numRows, IpcCompression::kNone, counting);
  return counting.size();
}

uint64_t writeRecordBatchMessage(const BatchView& batch, uint8_t* out, uint64_t capacity) {
  const auto [types, columns] = encoderInputOf(batch);
  FixedBytes fixed(out, capacity);
  encodeRecordBatchMessage(types, columns, batch.numRows, IpcCompression::kNone, fixed);
  return fixed.size();
}

IpcMessagePrefix readMessagePrefix(const uint8_t* bytes, uint64_t available) {
  if (available < 4) corrupt("it ends inside a message's length");
  // The continuation token, then the length; or, in streams of Arrow before 0.15, the length.
  IpcMessagePrefix prefix;
  prefix.prefixBytes = loadUnaligned<uint32_t>(bytes) == kContinuation ? 8 : 4;
  if (available < prefix.prefixBytes) corrupt("it ends inside a message's length");
  const int32_t length = loadUnaligned<int32_t>(bytes + prefix.prefixBytes - 4);
  if (length < 0) corrupt("a message's metadata length is negative");
  prefix.metadataBytes = static_cast<uint64_t>(length);
  return prefix;
}

IpcMessageHeader readMessageHeader(const uint8_t* metadata, uint64_t metadataBytes) {
  const FlatTable message = messageTable(metadata, metadataBytes);
  const uint8_t headerType = message.scalar<uint8_t>(1, 0);
  const int64_t bodyLength = message.scalar<int64_t>(3, 0);
  if (bodyLength < 0) corrupt("a body length is negative");
  IpcMessageHeader header;
  header.bodyBytes = static_cast<uint64_t>(bodyLength);
  if (headerType == kHeaderSchema) {
    header.kind = IpcMessageKind::kSchema;
  } else if (headerType == kHeaderRecordBatch) {
    header.kind = IpcMessageKind::kRecordBatch;
  } else if (headerType == kHeaderDictionaryBatch) {
    throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC stream holds a dictionary batch, which tungsten's segments never do");
  } else {
    corrupt("unknown message type " + std::to_string(headerType));
  }
  return header;
}

OutputBatch decodeRecordBatch(const std::vector<ColumnType>& types, const uint8_t* metadata, uint64_t metadataBytes,
                              const IpcBody& body) {
  const uint64_t bodyBytes = body.size;
  const FlatTable message = messageTable(metadata, metadataBytes);
  if (message.scalar<uint8_t>(1, 0) != kHeaderRecordBatch) corrupt("the message is not a record batch");
  const FlatTable batch = message.table(2);
  const int64_t length = batch.scalar<int64_t>(0, 0);
  if (length < 0) corrupt("a negative row count");
  const uint64_t numRows = static_cast<uint64_t>(length);
  // Row counts beyond this would overflow the byte counts below; no real batch comes close.
  if (numRows > (uint64_t{1} << 48)) corrupt("an implausible row count " + std::to_string(numRows));
  bool compressed = false;
  if (batch.has(3)) {
    const FlatTable compression = batch.table(3);
    if (compression.scalar<int8_t>(0, kCodecLz4Frame) != kCodecLz4Frame) {
      throw Error(ErrorCode::kIpcCorrupt, "the Arrow IPC message is ZSTD-compressed; tungsten reads LZ4_FRAME or uncompressed");
    }
    if (compression.scalar<int8_t>(1, 0) != 0) corrupt("unknown body compression method");
    compressed = true;
  }
  const auto [nodes, numNodes] = batch.vector(1, 16);
  const auto [buffers, numBuffers] = batch.vector(2, 16);
  uint64_t expectedBuffers = 0;
  for (const ColumnType& type : types) expectedBuffers += buffersPerColumn(type);
  if (numNodes != types.size() || numBuffers != expectedBuffers) {
    corrupt(std::to_string(numNodes) + " columns and " + std::to_string(numBuffers) + " buffers, where the schema has " +
            std::to_string(types.size()) + " columns and " + std::to_string(expectedBuffers) + " buffers");
  }

  uint64_t nextBuffer = 0;
  std::vector<uint8_t> scratch;
  ByteVector compressedBytes;
  // Reads and decodes the body buffer at `offset` (`available` stored bytes) into `bytes`.
  auto decodeBodyBuffer = [&](int64_t offset, uint64_t available, uint64_t bytes) -> OutputBuffer {
    if (!compressed) {
      if (available < bytes) corrupt("a buffer holds fewer bytes than its column needs");
      OutputBuffer out = allocateOutputBuffer(bytes, false);
      if (body.memory != nullptr) std::memcpy(out.data.get(), body.memory + offset, bytes);
      else body.read(static_cast<uint64_t>(offset), bytes, out.data.get());
      return out;
    }
    const uint8_t* data = body.memory + offset;
    if (body.memory == nullptr) {
      compressedBytes.resize(available);
      body.read(static_cast<uint64_t>(offset), available, compressedBytes.data());
      data = compressedBytes.data();
    }
    if (available < 8) corrupt("a compressed buffer is shorter than its length prefix");
    const int64_t raw = loadUnaligned<int64_t>(data);
    data += 8;
    available -= 8;
    if (raw == kStoredUncompressed) {
      if (available < bytes) corrupt("a buffer holds fewer bytes than its column needs");
      OutputBuffer out = allocateOutputBuffer(bytes, false);
      std::memcpy(out.data.get(), data, bytes);
      return out;
    }
    // LZ4 expands at most 255-fold: a larger length is corrupt, and is refused before it is
    // allocated.
    if (raw < 0 || static_cast<uint64_t>(raw) < bytes || static_cast<uint64_t>(raw) / 255 > available + 64) {
      corrupt("a buffer's uncompressed length does not fit its column or its compressed bytes");
    }
    OutputBuffer out = allocateOutputBuffer(bytes, false);
    if (static_cast<uint64_t>(raw) == bytes) {
      lz4FrameDecompress(data, available, out.data.get(), bytes);
    } else {
      scratch.resize(static_cast<size_t>(raw));
      lz4FrameDecompress(data, available, scratch.data(), scratch.size());
      std::memcpy(out.data.get(), scratch.data(), bytes);
    }
    return out;
  };
  // Buffers decoded so far, by their body entry: a shared buffer (arrow_ipc.h) is copied from
  // its first decoding instead of being read and decompressed again.
  struct Decoded {
    int64_t offset, stored;
    uint64_t bytes;
    const uint8_t* data;
  };
  std::vector<Decoded> decoded;
  // Decodes the next body buffer into `bytes` output bytes; a buffer holding fewer is corrupt,
  // one holding more (a writer's padding) is cut.
  auto decodeBuffer = [&](uint64_t bytes) -> OutputBuffer {
    const uint8_t* entry = buffers + 16 * nextBuffer++;
    const int64_t offset = loadUnaligned<int64_t>(entry);
    const int64_t stored = loadUnaligned<int64_t>(entry + 8);
    if (offset < 0 || stored < 0 || static_cast<uint64_t>(offset) > bodyBytes ||
        static_cast<uint64_t>(stored) > bodyBytes - static_cast<uint64_t>(offset)) {
      corrupt("a buffer lies outside the body");
    }
    uint64_t available = static_cast<uint64_t>(stored);
    if (bytes == 0) return OutputBuffer{};
    for (const Decoded& earlier : decoded) {
      if (earlier.offset == offset && earlier.stored == stored && earlier.bytes == bytes) {
        OutputBuffer out = allocateOutputBuffer(bytes, false);
        std::memcpy(out.data.get(), earlier.data, bytes);
        return out;
      }
    }
    OutputBuffer out = decodeBodyBuffer(offset, available, bytes);
    decoded.push_back({offset, stored, bytes, out.data.get()});
    return out;
  };

  OutputBatch out;
  out.numRows = numRows;
  out.columns.resize(types.size());
  for (uint32_t c = 0; c < types.size(); ++c) {
    const ColumnType& type = types[c];
    OutputColumn& column = out.columns[c];
    const int64_t nodeLength = loadUnaligned<int64_t>(nodes + 16 * c);
    const int64_t nullCount = loadUnaligned<int64_t>(nodes + 16 * c + 8);
    if (nodeLength != length || nullCount < 0 || nullCount > length) corrupt("a column's length or null count does not fit the batch");
    column.nullCount = static_cast<uint64_t>(nullCount);
    if (column.nullCount > 0) {
      column.validity = decodeBuffer((numRows + 7) / 8);
    } else {
      ++nextBuffer;  // a validity buffer of a column without nulls is not needed
    }
    if (type.physical == PhysicalType::kVarBinary) {
      column.offsets = decodeBuffer((numRows + 1) * type.width);
      const uint8_t* offsets = column.offsets.data.get();
      auto offsetAt = [&](uint64_t i) -> int64_t {
        return type.width == 4 ? int64_t{loadUnaligned<int32_t>(offsets + 4 * i)} : loadUnaligned<int64_t>(offsets + 8 * i);
      };
      // The values buffer is as long as the last offset says.
      const int64_t first = offsetAt(0);
      const int64_t last = offsetAt(numRows);
      if (first < 0 || last < first) corrupt("a column's offsets are out of order");
      for (uint64_t i = 1; i <= numRows; ++i) {
        if (offsetAt(i) < offsetAt(i - 1)) corrupt("a column's offsets are out of order");
      }
      column.values = decodeBuffer(static_cast<uint64_t>(last));
    } else if (type.physical == PhysicalType::kBool) {
      column.values = decodeBuffer((numRows + 7) / 8);
    } else {
      column.values = decodeBuffer(numRows * slotBytes(type));
    }
  }
  return out;
}

}  // namespace tungsten
