// Unit tests of the native Arrow IPC codec: XXH32 and the CRC-32s against published values, the
// LZ4 frame codec (round trips, linked blocks another writer makes, corrupt frames), record-batch
// messages (round trips of every physical type, with and without LZ4, and corrupt messages), and
// the bypass shuffle writer that encodes them (against the partitioner and a bitwise CRC).
// Seeds are in the names.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "arrow_ipc.h"
#include "batch_pull.h"
#include "bypass_writer.h"
#include "crc32.h"
#include "hash_aggregator.h"
#include "harness.h"
#include "ipc_segment_reader.h"
#include "lz4_frame.h"
#include "page_allocator.h"
#include "row_format.h"
#include "task_page_table.h"
#include "xxhash32.h"

using namespace tungsten;

namespace {

std::vector<uint8_t> bytesOf(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// Half runs of a repeated byte (compressible), half random bytes.
std::vector<uint8_t> mixedBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n;) {
    const size_t run = std::min<size_t>(n - i, 1 + rng() % 300);
    const bool repeat = rng() % 2 == 0;
    const uint8_t byte = static_cast<uint8_t>(rng());
    for (size_t j = 0; j < run; ++j) out[i + j] = repeat ? byte : static_cast<uint8_t>(rng());
    i += run;
  }
  return out;
}

std::vector<uint8_t> frameOf(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> frame(lz4FrameBound(raw.size()));
  frame.resize(lz4FrameCompress(raw.data(), raw.size(), frame.data()));
  return frame;
}

OutputBuffer bufferOf(const std::vector<uint8_t>& bytes) {
  OutputBuffer out = allocateOutputBuffer(bytes.size(), false);
  if (!bytes.empty()) std::memcpy(out.data.get(), bytes.data(), bytes.size());
  return out;
}

template <typename T>
std::vector<uint8_t> bytesOfValues(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// A batch of every physical type, `n` rows, nulls in some columns.
struct TestBatch {
  std::vector<ColumnType> types{{PhysicalType::kInt, 8},      {PhysicalType::kFloat, 4},
                                {PhysicalType::kBool, 1},     {PhysicalType::kVarBinary, 4},
                                {PhysicalType::kVarBinary, 8}, {PhysicalType::kFixedBinary, 3},
                                {PhysicalType::kDecimal128, 16}};
  OutputBatch batch;
};

TestBatch makeTestBatch(uint64_t n, uint32_t seed, size_t maxVarLength = 11) {
  std::mt19937_64 rng(seed);
  TestBatch t;
  t.batch.numRows = n;
  for (const ColumnType& type : t.types) {
    OutputColumn column;
    std::vector<uint8_t> validity((n + 7) / 8, 0);
    for (uint64_t i = 0; i < n; ++i) {
      if (rng() % 5 == 0 && type.physical != PhysicalType::kFloat) {
        ++column.nullCount;
      } else {
        validity[i / 8] |= uint8_t(1u << (i % 8));
      }
    }
    if (column.nullCount > 0) column.validity = bufferOf(validity);
    if (type.physical == PhysicalType::kVarBinary) {
      std::vector<uint8_t> values;
      std::vector<int64_t> offsets{0};
      for (uint64_t i = 0; i < n; ++i) {
        const size_t length = rng() % (maxVarLength + 1);
        for (size_t j = 0; j < length; ++j) values.push_back(static_cast<uint8_t>('a' + rng() % 26));
        offsets.push_back(static_cast<int64_t>(values.size()));
      }
      if (type.width == 4) {
        column.offsets = bufferOf(bytesOfValues(std::vector<int32_t>(offsets.begin(), offsets.end())));
      } else {
        column.offsets = bufferOf(bytesOfValues(offsets));
      }
      column.values = bufferOf(values);
    } else {
      const uint64_t bytes = type.physical == PhysicalType::kBool ? (n + 7) / 8 : n * type.width;
      std::vector<uint8_t> values(bytes);
      // Small values: compressible, as real keys and payloads often are.
      for (uint64_t i = 0; i < bytes; ++i) values[i] = static_cast<uint8_t>(rng() % 4);
      column.values = bufferOf(values);
    }
    t.batch.columns.push_back(std::move(column));
  }
  return t;
}

std::vector<uint8_t> encode(const TestBatch& t, IpcCompression compression) {
  std::vector<IpcColumnBuffers> buffers;
  for (size_t c = 0; c < t.types.size(); ++c) buffers.push_back(ipcBuffersOf(t.types[c], t.batch.columns[c], t.batch.numRows));
  ByteVector out;
  appendRecordBatchMessage(t.types, buffers, t.batch.numRows, compression, out);
  return std::vector<uint8_t>(out.begin(), out.end());
}

OutputBatch decode(const std::vector<ColumnType>& types, const std::vector<uint8_t>& message) {
  const IpcMessagePrefix prefix = readMessagePrefix(message.data(), message.size());
  const uint8_t* metadata = message.data() + prefix.prefixBytes;
  const IpcMessageHeader header = readMessageHeader(metadata, prefix.metadataBytes);
  CHECK(header.kind == IpcMessageKind::kRecordBatch);
  CHECK_EQ(prefix.prefixBytes + prefix.metadataBytes + header.bodyBytes, message.size());
  return decodeRecordBatch(types, metadata, prefix.metadataBytes, metadata + prefix.metadataBytes, header.bodyBytes);
}

bool sameBuffer(const OutputBuffer& a, const OutputBuffer& b) {
  if (a.size != b.size) return false;
  return a.size == 0 || std::memcmp(a.data.get(), b.data.get(), a.size) == 0;
}

void checkSameColumns(const OutputBatch& expected, const OutputBatch& actual) {
  CHECK_EQ(expected.columns.size(), actual.columns.size());
  for (size_t c = 0; c < expected.columns.size(); ++c) {
    const OutputColumn& a = expected.columns[c];
    const OutputColumn& b = actual.columns[c];
    CHECK_EQ(a.nullCount, b.nullCount);
    CHECK(sameBuffer(a.validity, b.validity));
    CHECK(sameBuffer(a.offsets, b.offsets));
    CHECK(sameBuffer(a.values, b.values));
  }
}

}  // namespace

TEST(xxh32_matches_published_values) {
  CHECK_EQ(xxh32(nullptr, 0), 0x02CC5D05u);
  auto abc = bytesOf("abc");
  CHECK_EQ(xxh32(abc.data(), abc.size()), 0x32D153FFu);
  auto longer = bytesOf("Nobody inspects the spammish repetition");
  CHECK_EQ(xxh32(longer.data(), longer.size()), 0xE2293B2Fu);
}

TEST(lz4_frame_seed_21_round_trips_sizes_across_blocks) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{70000}, kLz4FrameBlockBytes, kLz4FrameBlockBytes + 12345}) {
    const auto raw = mixedBytes(n, 21 + static_cast<uint32_t>(n));
    const auto frame = frameOf(raw);
    CHECK(frame.size() <= lz4FrameBound(n));
    std::vector<uint8_t> back(n);
    lz4FrameDecompress(frame.data(), frame.size(), back.data(), n);
    CHECK(back == raw);
    // One byte more or less than the frame holds is refused.
    std::vector<uint8_t> longer(n + 1);
    CHECK_THROWS_CODE(lz4FrameDecompress(frame.data(), frame.size(), longer.data(), n + 1), ErrorCode::kIpcCorrupt);
    if (n > 0) CHECK_THROWS_CODE(lz4FrameDecompress(frame.data(), frame.size(), back.data(), n - 1), ErrorCode::kIpcCorrupt);
  }
}

TEST(lz4_frame_reads_linked_blocks_and_checksums_it_did_not_write) {
  // Two blocks; the second's match reaches 8 bytes back into the first, which only a decoder of
  // linked blocks may follow. Block 2 = token (0 literals, match 4), offset 8, token (5
  // literals) "hello". Block checksums and a content checksum and size are on.
  const std::vector<uint8_t> first = bytesOf("ABCDEFGH");
  std::vector<uint8_t> second = {0x00, 8, 0, 0x50};
  for (char ch : std::string("hello")) second.push_back(static_cast<uint8_t>(ch));
  const std::vector<uint8_t> expected = bytesOf("ABCDEFGHABCDhello");
  auto frameWith = [&](bool independent) {
    std::vector<uint8_t> f = {0x04, 0x22, 0x4D, 0x18};
    const uint8_t flags = static_cast<uint8_t>(0x40 | (independent ? 0x20 : 0) | 0x10 | 0x08 | 0x04);
    std::vector<uint8_t> descriptor = {flags, 0x40};
    const uint64_t contentSize = expected.size();
    for (int i = 0; i < 8; ++i) descriptor.push_back(static_cast<uint8_t>(contentSize >> (8 * i)));
    f.insert(f.end(), descriptor.begin(), descriptor.end());
    f.push_back(static_cast<uint8_t>((xxh32(descriptor.data(), descriptor.size()) >> 8) & 0xFF));
    auto put32 = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) f.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put32(static_cast<uint32_t>(first.size()) | 0x80000000u);  // stored uncompressed
    f.insert(f.end(), first.begin(), first.end());
    put32(xxh32(first.data(), first.size()));
    put32(static_cast<uint32_t>(second.size()));
    f.insert(f.end(), second.begin(), second.end());
    put32(xxh32(second.data(), second.size()));
    put32(0);
    put32(xxh32(expected.data(), expected.size()));
    return f;
  };
  std::vector<uint8_t> out(expected.size());
  const auto linked = frameWith(false);
  lz4FrameDecompress(linked.data(), linked.size(), out.data(), out.size());
  CHECK(out == expected);
  // The same blocks declared independent reach outside their block.
  const auto independent = frameWith(true);
  CHECK_THROWS_CODE(lz4FrameDecompress(independent.data(), independent.size(), out.data(), out.size()), ErrorCode::kIpcCorrupt);
  // A flipped byte fails the header, a block or the content checksum.
  for (size_t at = 4; at < linked.size(); ++at) {
    auto bad = linked;
    bad[at] ^= 0x01;
    bool threw = false;
    try {
      lz4FrameDecompress(bad.data(), bad.size(), out.data(), out.size());
    } catch (const Error& e) {
      threw = e.code() == ErrorCode::kIpcCorrupt;
    }
    CHECK(threw);
  }
}

TEST(lz4_frame_seed_22_truncated_or_garbage_is_refused_not_overrun) {
  const auto raw = mixedBytes(50000, 22);
  const auto frame = frameOf(raw);
  std::vector<uint8_t> out(raw.size());
  for (size_t cut : {size_t{0}, size_t{3}, size_t{6}, size_t{20}, frame.size() / 2, frame.size() - 1}) {
    CHECK_THROWS_CODE(lz4FrameDecompress(frame.data(), cut, out.data(), out.size()), ErrorCode::kIpcCorrupt);
  }
  std::mt19937 rng(22);
  for (int trial = 0; trial < 200; ++trial) {
    auto bad = frame;
    bad[7 + rng() % (bad.size() - 7)] = static_cast<uint8_t>(rng());
    try {
      lz4FrameDecompress(bad.data(), bad.size(), out.data(), out.size());  // may still decode
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kIpcCorrupt);
    }
  }
}

TEST(ipc_record_batch_seed_23_round_trips_every_type_with_and_without_lz4) {
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{9}, uint64_t{5000}}) {
    const TestBatch t = makeTestBatch(n, 23 + static_cast<uint32_t>(n));
    for (IpcCompression compression : {IpcCompression::kNone, IpcCompression::kLz4Frame}) {
      const auto message = encode(t, compression);
      CHECK_EQ(message.size() % 8, size_t{0});
      const OutputBatch back = decode(t.types, message);
      CHECK_EQ(back.numRows, n);
      checkSameColumns(t.batch, back);
    }
  }
}

TEST(ipc_record_batch_seed_31_equal_buffers_are_written_once_and_decoded_apart) {
  const TestBatch t = makeTestBatch(3000, 31);
  // Columns 0 (int64, with nulls) and 3 (var-width) again, copied (equal bytes elsewhere), and
  // column 0 once more with its last value changed: only the exact copies may share.
  auto copy = [](const OutputBuffer& from) {
    OutputBuffer out = allocateOutputBuffer(from.size, false);
    if (from.size > 0) std::memcpy(out.data.get(), from.data.get(), from.size);
    return out;
  };
  auto copyColumn = [&](const OutputColumn& from) {
    OutputColumn column;
    column.nullCount = from.nullCount;
    column.validity = copy(from.validity);
    column.offsets = copy(from.offsets);
    column.values = copy(from.values);
    return column;
  };
  TestBatch wide;
  wide.types = t.types;
  wide.batch.numRows = t.batch.numRows;
  for (const OutputColumn& column : t.batch.columns) wide.batch.columns.push_back(copyColumn(column));
  for (uint32_t c : {0u, 3u}) {
    wide.types.push_back(t.types[c]);
    wide.batch.columns.push_back(copyColumn(t.batch.columns[c]));
  }
  wide.types.push_back(t.types[0]);
  wide.batch.columns.push_back(copyColumn(t.batch.columns[0]));
  wide.batch.columns.back().values.data.get()[wide.batch.columns.back().values.size - 1] ^= 1;
  for (IpcCompression compression : {IpcCompression::kNone, IpcCompression::kLz4Frame}) {
    const auto narrow = encode(t, compression);
    const auto message = encode(wide, compression);
    // The copies add metadata only (two nodes, five buffer entries); the changed column adds
    // its values (and, its validity being equal, nothing more).
    const uint64_t copiesMetadata = 2 * 16 + 5 * 16;
    const uint64_t changedMetadata = 16 + 2 * 16;
    const uint64_t changedValues = t.batch.columns[0].values.size;
    CHECK(message.size() > narrow.size() + copiesMetadata + changedMetadata);
    CHECK(message.size() <= narrow.size() + copiesMetadata + changedMetadata + 8 + changedValues + 64);
    if (compression == IpcCompression::kNone) {
      CHECK_EQ(message.size(), narrow.size() + copiesMetadata + changedMetadata + padTo8(changedValues));
    }
    const OutputBatch back = decode(wide.types, message);
    checkSameColumns(wide.batch, back);
    // Decoded apart: each column owns its buffers, shared in the message or not.
    const size_t copyOf0 = t.types.size(), copyOf3 = t.types.size() + 1;
    CHECK(back.columns[copyOf0].values.data.get() != back.columns[0].values.data.get());
    CHECK(back.columns[copyOf0].validity.data.get() != back.columns[0].validity.data.get());
    CHECK(back.columns[copyOf3].offsets.data.get() != back.columns[3].offsets.data.get());
  }
}

TEST(ipc_record_batch_seed_32_borrowed_batch_written_into_memory_sized_beforehand) {
  const TestBatch t = makeTestBatch(2500, 32);
  BatchView view;
  view.numRows = t.batch.numRows;
  for (size_t c = 0; c < t.types.size(); ++c) {
    const OutputColumn& column = t.batch.columns[c];
    ColumnView v;
    v.type = t.types[c];
    v.validity = column.nullCount > 0 ? column.validity.data.get() : nullptr;
    v.values = column.values.data.get();
    v.offsets = column.offsets.data.get();
    view.columns.push_back(v);
  }
  // The same bytes as the growing encoder's, in memory of exactly the size it was given.
  const auto expected = encode(t, IpcCompression::kNone);
  const uint64_t bytes = recordBatchMessageBytes(view);
  CHECK_EQ(bytes, expected.size());
  std::vector<uint8_t> out(bytes);
  CHECK_EQ(writeRecordBatchMessage(view, out.data(), out.size()), bytes);
  CHECK(out == expected);
  checkSameColumns(t.batch, decode(t.types, out));
  // One byte short: refused, never written past.
  std::vector<uint8_t> guarded(bytes, 0xAB);
  CHECK_THROWS_CODE(writeRecordBatchMessage(view, guarded.data(), bytes - 1), ErrorCode::kInvalidArgument);
  CHECK_EQ(guarded.back(), uint8_t{0xAB});
  // Bits that do not start at bit 0 (a sliced batch) are refused.
  BatchView sliced = view;
  sliced.columns[0].validityBitOffset = 3;
  CHECK_THROWS_CODE(recordBatchMessageBytes(sliced), ErrorCode::kInvalidArgument);
}

TEST(ipc_record_batch_seed_24_corrupt_messages_are_refused) {
  const TestBatch t = makeTestBatch(300, 24);
  const auto message = encode(t, IpcCompression::kLz4Frame);
  // Fewer columns than the message holds.
  std::vector<ColumnType> fewer(t.types.begin(), t.types.end() - 1);
  CHECK_THROWS_CODE(decode(fewer, message), ErrorCode::kIpcCorrupt);
  // Every truncation of the metadata or the body.
  const IpcMessagePrefix prefix = readMessagePrefix(message.data(), message.size());
  const uint8_t* metadata = message.data() + prefix.prefixBytes;
  const uint64_t bodyBytes = message.size() - prefix.prefixBytes - prefix.metadataBytes;
  for (uint64_t cut = 0; cut < prefix.metadataBytes; cut += 3) {
    try {
      decodeRecordBatch(t.types, metadata, cut, metadata + prefix.metadataBytes, bodyBytes);
      CHECK(false);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kIpcCorrupt);
    }
  }
  for (uint64_t cut = 0; cut < bodyBytes; cut += 97) {
    CHECK_THROWS_CODE(decodeRecordBatch(t.types, metadata, prefix.metadataBytes, metadata + prefix.metadataBytes, cut),
                      ErrorCode::kIpcCorrupt);
  }
  // Random bytes anywhere: refused or decoded, never read out of bounds (ASan runs this too).
  std::mt19937 rng(24);
  for (int trial = 0; trial < 500; ++trial) {
    auto bad = message;
    bad[8 + rng() % (bad.size() - 8)] = static_cast<uint8_t>(rng());
    try {
      decodeRecordBatch(t.types, bad.data() + 8, prefix.metadataBytes, bad.data() + 8 + prefix.metadataBytes, bodyBytes);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kIpcCorrupt);
    }
  }
}

namespace {

// The bit-at-a-time CRC-32 (IEEE) of the definition, against which the sliced one is checked.
uint32_t crc32Bitwise(const uint8_t* p, size_t n) {
  uint32_t crc = ~0u;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? 0xEDB88320u : 0);
  }
  return ~crc;
}

// Rows [from, to) of an output batch as a borrowed input batch (bit offsets for booleans and
// validity, sliced values and offsets), as TypeScript hands slices of Arrow batches over.
BatchView sliceOf(const std::vector<ColumnType>& types, const OutputBatch& batch, uint64_t from, uint64_t to) {
  static const uint8_t kEmpty = 0;
  BatchView view;
  view.numRows = to - from;
  for (size_t c = 0; c < types.size(); ++c) {
    const OutputColumn& column = batch.columns[c];
    ColumnView v;
    v.type = types[c];
    if (column.nullCount > 0) {
      v.validity = column.validity.data.get();
      v.validityBitOffset = from;
    }
    v.values = column.values.size > 0 ? column.values.data.get() : &kEmpty;
    if (types[c].physical == PhysicalType::kBool) {
      v.valuesBitOffset = from;
    } else if (types[c].physical == PhysicalType::kVarBinary) {
      v.offsets = column.offsets.data.get() + from * types[c].width;
    } else {
      v.values += from * slotBytes(types[c]);
    }
    view.columns.push_back(v);
  }
  return view;
}

// One cell as bytes (nullopt when null), the same for an input view and a decoded batch.
std::optional<std::string> cellOf(const ColumnView& column, uint64_t row) {
  if (column.isNull(row)) return std::nullopt;
  const ColumnType& type = column.type;
  if (type.physical == PhysicalType::kBool) {
    const uint64_t bit = column.valuesBitOffset + row;
    return std::string(1, static_cast<char>('0' + ((column.values[bit >> 3] >> (bit & 7)) & 1)));
  }
  if (type.physical == PhysicalType::kVarBinary) {
    const uint64_t from = varOffset(column, row);
    return std::string(reinterpret_cast<const char*>(column.values) + from, varOffset(column, row + 1) - from);
  }
  const uint32_t width = slotBytes(type);
  return std::string(reinterpret_cast<const char*>(column.values) + row * width, width);
}

std::vector<std::vector<std::optional<std::string>>> rowsOfView(const BatchView& view) {
  std::vector<std::vector<std::optional<std::string>>> rows(view.numRows);
  for (uint64_t i = 0; i < view.numRows; ++i) {
    for (const ColumnView& column : view.columns) rows[i].push_back(cellOf(column, i));
  }
  return rows;
}

struct TempFile {
  std::string path;
  int fd;
  TempFile() {
    char name[] = "/tmp/tungsten-bypass-test-XXXXXX";
    fd = ::mkstemp(name);
    path = name;
  }
  ~TempFile() {
    ::close(fd);
    ::unlink(path.c_str());
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(static_cast<size_t>(::lseek(fd, 0, SEEK_END)));
    CHECK_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    return out;
  }
};

}  // namespace

TEST(crc32_matches_published_check_values_and_resumes_seed_25) {
  const std::string check = "123456789";
  CHECK_EQ(crc32Ieee(0, check.data(), check.size()), 0xCBF43926u);
  CHECK_EQ(crc32c(0, check.data(), check.size()), 0xE3069283u);
  const std::vector<uint8_t> bytes = mixedBytes(10'000, 25);
  std::mt19937 rng(25);
  for (int trial = 0; trial < 50; ++trial) {
    const size_t n = rng() % bytes.size();
    const size_t cut = n == 0 ? 0 : rng() % n;
    const uint32_t whole = crc32Ieee(0, bytes.data(), n);
    CHECK_EQ(whole, crc32Bitwise(bytes.data(), n));
    CHECK_EQ(crc32Ieee(crc32Ieee(0, bytes.data(), cut), bytes.data() + cut, n - cut), whole);
    CHECK_EQ(crc32c(crc32c(0, bytes.data(), cut), bytes.data() + cut, n - cut), crc32c(0, bytes.data(), n));
  }
}

// The folded CRC-32 (PCLMULQDQ) takes runs of 64 bytes and more in 16-byte steps: every length
// around those steps, at unaligned starts, equals the bit-at-a-time CRC and the table CRC.
TEST(crc32_folded_matches_bitwise_at_every_length_seed_29) {
  const std::vector<uint8_t> bytes = mixedBytes(4096 + 8, 29);
  for (size_t offset = 0; offset < 4; ++offset) {
    for (size_t n = 0; n <= 300; ++n) {
      const uint32_t bitwise = crc32Bitwise(bytes.data() + offset, n);
      CHECK_EQ(crc32Ieee(0, bytes.data() + offset, n), bitwise);
      CHECK_EQ(crc32IeeeTable(0, bytes.data() + offset, n), bitwise);
    }
  }
  CHECK_EQ(crc32Ieee(0x12345678u, bytes.data() + 3, 4096), crc32IeeeTable(0x12345678u, bytes.data() + 3, 4096));
}

// Every row of every type lands in the partition the partitioner names, in input order; small
// regions force many messages; a flush between batches (a spill) and a new buffer lose nothing;
// values longer than a region go out alone; segments are schema + messages + EOS with a CRC-32
// of exactly their bytes.
TEST(bypass_writer_seed_26_rows_reach_their_partitions_in_order) {
  const uint32_t numPartitions = 5;
  for (size_t maxVarLength : {size_t{11}, size_t{3000}}) {
    for (IpcCompression compression : {IpcCompression::kNone, IpcCompression::kLz4Frame}) {
      const TestBatch t = makeTestBatch(4000, 26 + static_cast<uint32_t>(maxVarLength), maxVarLength);
      PartitionerSpec spec;
      spec.kind = PartitionerKind::kHash;
      spec.numPartitions = numPartitions;
      spec.hashColumns = {0, 3};
      const std::vector<uint8_t> schema = bytesOf("schema message, any bytes here");
      auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
      std::vector<TempFile> files(numPartitions);
      TempFile data;
      {
        BypassWriter writer(t.types, spec, nullptr, table, 700, compression, schema);
        std::vector<PartitionFile> targets;
        for (const TempFile& f : files) targets.push_back({f.fd, 0, f.path});
        writer.setFiles(targets);
        writer.setBuffer(table->allocatePage(numPartitions * 6000));
        const uint64_t cuts[] = {0, 1, 999, 2500, 4000};
        for (size_t k = 0; k + 1 < std::size(cuts); ++k) {
          writer.write(sliceOf(t.types, t.batch, cuts[k], cuts[k + 1]));
          if (k == 1) {
            // A spill: everything buffered goes out and the block is dropped.
            CHECK(writer.flush() > 0);
            CHECK(!writer.hasBuffer());
            writer.setBuffer(table->allocatePage(writer.minimumBufferBytes()));
          }
        }
        writer.flush();
        CHECK_EQ(writer.metrics().rowsWritten, uint64_t{4000});

        // The reference: each row's partition, rows in input order.
        RowLayout layout(t.types);
        Partitioner partitioner(layout, spec, nullptr);
        const BatchView all = sliceOf(t.types, t.batch, 0, 4000);
        std::vector<uint32_t> ids(4000);
        partitioner.partitionsOf(all, 0, 4000, nullptr, ids.data());
        const auto inputRows = rowsOfView(all);
        std::map<uint32_t, std::vector<std::vector<std::optional<std::string>>>> expected;
        for (uint64_t i = 0; i < 4000; ++i) expected[ids[i]].push_back(inputRows[i]);

        const BypassWriter::Segments segments = writer.writeDataFile(data.fd, data.path);
        const std::vector<uint8_t> bytes = data.bytes();
        uint64_t at = 0;
        for (uint32_t p = 0; p < numPartitions; ++p) {
          const uint64_t length = segments.lengths[p];
          CHECK_EQ(length == 0, expected[p].empty());
          if (length == 0) continue;
          const uint8_t* segment = bytes.data() + at;
          CHECK_EQ(segments.checksums[p], crc32Bitwise(segment, length));
          CHECK(std::memcmp(segment, schema.data(), schema.size()) == 0);
          CHECK(std::memcmp(segment + length - 8, "\xff\xff\xff\xff\0\0\0\0", 8) == 0);
          std::vector<std::vector<std::optional<std::string>>> got;
          for (uint64_t m = schema.size(); m < length - 8;) {
            const IpcMessagePrefix prefix = readMessagePrefix(segment + m, length - m);
            const uint8_t* metadata = segment + m + prefix.prefixBytes;
            const IpcMessageHeader header = readMessageHeader(metadata, prefix.metadataBytes);
            const OutputBatch batch =
                decodeRecordBatch(t.types, metadata, prefix.metadataBytes, metadata + prefix.metadataBytes, header.bodyBytes);
            CHECK(batch.numRows <= 700);
            const auto rows = rowsOfView(sliceOf(t.types, batch, 0, batch.numRows));
            got.insert(got.end(), rows.begin(), rows.end());
            m += prefix.prefixBytes + prefix.metadataBytes + header.bodyBytes;
          }
          CHECK(got == expected[p]);
          at += length;
        }
        CHECK_EQ(at, bytes.size());
      }
      table->freeAllPages();
    }
  }
}

TEST(bypass_writer_range_partitions_and_refuses_a_small_buffer) {
  const TestBatch t = makeTestBatch(1000, 27);
  const std::vector<ColumnType> keyOnly{t.types[0]};
  // Bounds on the int64 column: 3 partitions.
  std::vector<int64_t> boundValues{-1, 1 << 20};
  OutputBatch bounds;
  bounds.numRows = 2;
  OutputColumn boundColumn;
  boundColumn.values = bufferOf(bytesOfValues(boundValues));
  bounds.columns.push_back(std::move(boundColumn));
  const BatchView boundsView = sliceOf(keyOnly, bounds, 0, 2);
  PartitionerSpec spec;
  spec.kind = PartitionerKind::kRange;
  spec.numPartitions = 3;
  spec.sortKeys = {{0, false, true}};
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  std::vector<TempFile> files(3);
  {
    BypassWriter writer(keyOnly, spec, &boundsView, table, 100, IpcCompression::kNone, {});
    std::vector<PartitionFile> targets;
    for (const TempFile& f : files) targets.push_back({f.fd, 0, f.path});
    CHECK_THROWS_CODE(writer.write(sliceOf(keyOnly, t.batch, 0, 10)), ErrorCode::kInvalidArgument);  // no files
    writer.setFiles(targets);
    CHECK_THROWS_CODE(writer.setBuffer(table->allocatePage(writer.minimumBufferBytes() - 64 * 3)), ErrorCode::kInvalidArgument);
    writer.setBuffer(table->allocatePage(writer.minimumBufferBytes()));
    writer.write(sliceOf(keyOnly, t.batch, 0, 1000));
    writer.flush();
    // Every value of partition p lies between bounds p - 1 and p (nulls first: partition 0).
    for (uint32_t p = 0; p < 3; ++p) {
      const std::vector<uint8_t> bytes = files[p].bytes();
      CHECK_EQ(bytes.size(), writer.written()[p]);
      for (uint64_t m = 0; m < bytes.size();) {
        const IpcMessagePrefix prefix = readMessagePrefix(bytes.data() + m, bytes.size() - m);
        const uint8_t* metadata = bytes.data() + m + prefix.prefixBytes;
        const IpcMessageHeader header = readMessageHeader(metadata, prefix.metadataBytes);
        const OutputBatch batch = decodeRecordBatch(keyOnly, metadata, prefix.metadataBytes, metadata + prefix.metadataBytes, header.bodyBytes);
        const BatchView view = sliceOf(keyOnly, batch, 0, batch.numRows);
        for (uint64_t i = 0; i < batch.numRows; ++i) {
          const auto cell = cellOf(view.columns[0], i);
          if (!cell) {
            CHECK_EQ(p, 0u);
            continue;
          }
          int64_t v;
          std::memcpy(&v, cell->data(), 8);
          if (p > 0) CHECK(v >= boundValues[p - 1]);
          if (p < 2) CHECK(v <= boundValues[p]);
        }
        m += prefix.prefixBytes + prefix.metadataBytes + header.bodyBytes;
      }
    }
  }
  table->freeAllPages();
}

// The segment reader checks the CRC-32 of every byte of its range as it reads: a byte changed
// where decoding cannot notice (a value) is refused at the end of the stream, after the batches
// before it; the right CRC reads through, bytes after the marker included.
TEST(segment_reader_seed_28_checks_the_crc_as_it_reads) {
  const TestBatch t = makeTestBatch(500, 28);
  std::vector<uint8_t> segment = encode(t, IpcCompression::kNone);
  const std::vector<uint8_t> second = encode(t, IpcCompression::kNone);
  segment.insert(segment.end(), second.begin(), second.end());
  const uint8_t eos[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  segment.insert(segment.end(), eos, eos + 8);
  TempFile file;
  const auto readAll = [&](const std::vector<uint8_t>& bytes, std::optional<uint32_t> crc, uint64_t* rows) {
    CHECK_EQ(::pwrite(file.fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
    IpcSegmentReader reader(file.path, 0, bytes.size(), t.types, crc);
    for (;;) {
      const OutputBatch batch = reader.next();
      if (batch.numRows == 0) return;
      *rows += batch.numRows;
    }
  };
  uint64_t rows = 0;
  readAll(segment, crc32Bitwise(segment.data(), segment.size()), &rows);
  CHECK_EQ(rows, uint64_t{1000});
  // The last byte of the second message's body: the decimal column's last value.
  std::vector<uint8_t> damaged = segment;
  damaged[damaged.size() - 9] ^= 0x01;
  rows = 0;
  readAll(damaged, std::nullopt, &rows);  // decodes: only the checksum can tell
  CHECK_EQ(rows, uint64_t{1000});
  rows = 0;
  CHECK_THROWS_CODE(readAll(damaged, crc32Bitwise(segment.data(), segment.size()), &rows), ErrorCode::kIpcCorrupt);
  CHECK_EQ(rows, uint64_t{1000});
}

// Without a checksum the reader reads each body buffer straight into its output buffer: every
// type decodes as the in-memory decoder decodes it, compressed or not, several messages in a
// row; a range cut inside a body, or bytes flipped anywhere, are refused or decoded, never read
// out of bounds (ASan runs this too).
TEST(segment_reader_seed_30_reads_bodies_buffer_by_buffer_as_the_decoder_does) {
  for (IpcCompression compression : {IpcCompression::kNone, IpcCompression::kLz4Frame}) {
    const TestBatch t = makeTestBatch(700, 30);
    const std::vector<uint8_t> message = encode(t, compression);
    std::vector<uint8_t> stream = message;
    stream.insert(stream.end(), message.begin(), message.end());
    TempFile file;
    CHECK_EQ(::pwrite(file.fd, stream.data(), stream.size(), 0), static_cast<ssize_t>(stream.size()));
    const OutputBatch expected = decode(t.types, message);
    IpcSegmentReader reader(file.path, 0, stream.size(), t.types);
    for (int m = 0; m < 2; ++m) {
      const OutputBatch batch = reader.next();
      CHECK_EQ(batch.numRows, uint64_t{700});
      for (size_t c = 0; c < t.types.size(); ++c) {
        CHECK_EQ(batch.columns[c].nullCount, expected.columns[c].nullCount);
        CHECK(sameBuffer(batch.columns[c].validity, expected.columns[c].validity));
        CHECK(sameBuffer(batch.columns[c].offsets, expected.columns[c].offsets));
        CHECK(sameBuffer(batch.columns[c].values, expected.columns[c].values));
      }
    }
    CHECK_EQ(reader.next().numRows, uint64_t{0});
    // A range that ends inside the second message's body.
    for (uint64_t cut : {uint64_t{message.size() + 40}, uint64_t{stream.size() - 1}}) {
      IpcSegmentReader shortReader(file.path, 0, cut, t.types);
      CHECK_EQ(shortReader.next().numRows, uint64_t{700});
      CHECK_THROWS_CODE(shortReader.next(), ErrorCode::kIpcCorrupt);
    }
    std::mt19937 rng(30);
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> bad = message;
      bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
      CHECK_EQ(::pwrite(file.fd, bad.data(), bad.size(), 0), static_cast<ssize_t>(bad.size()));
      try {
        IpcSegmentReader badReader(file.path, 0, bad.size(), t.types);
        while (badReader.next().numRows > 0) {
        }
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::kIpcCorrupt || e.code() == ErrorCode::kIoError);
      }
    }
  }
}

// batch_pull.h: an aggregation inserting a reader's batches itself (projected columns, in
// another order) stops whenever it needs memory, halfway through a batch too, and goes on from
// the same row after the grant: its groups equal those of the same aggregation fed the decoded
// batches one by one, and every row is counted once.
TEST(insert_from_reader_seed_34_resumes_after_every_grant_as_batch_inserts_do) {
  std::vector<uint8_t> stream;
  std::vector<TestBatch> batches;
  for (uint32_t m = 0; m < 3; ++m) {
    batches.push_back(makeTestBatch(700, 34 + m));
    const std::vector<uint8_t> message = encode(batches.back(), IpcCompression::kLz4Frame);
    stream.insert(stream.end(), message.begin(), message.end());
  }
  TempFile file;
  CHECK_EQ(::pwrite(file.fd, stream.data(), stream.size(), 0), static_cast<ssize_t>(stream.size()));
  const std::vector<ColumnType>& types = batches[0].types;
  const std::vector<uint32_t> columns = {0, 3, 1};  // int64 key, utf8, float32
  AggregatorOptions options;
  options.keyColumns = {types[0]};
  options.aggregates = {{AggregateFunction::kCountStar, 0, types[0], "count(*)"},
                        {AggregateFunction::kMin, 1, types[3], "min(s)"},
                        {AggregateFunction::kSum, 2, types[1], "sum(f)"},
                        {AggregateFunction::kMax, 2, types[1], "max(f)"}};
  options.inputColumns = 3;
  auto table = std::make_shared<TaskPageTable>(PageAllocator::instance());
  const auto grant = [&](HashAggregator& aggregator, bool needArray, uint64_t needPageBytes) {
    if (needArray) {
      const uint64_t slots = aggregator.slotArrayCapacity() == 0 ? 64 : aggregator.slotArrayCapacity() * 2;
      aggregator.adoptSlotArray(table->allocatePage(slots * sizeof(MapSlot)));
    } else {
      aggregator.addDataPage(table->allocatePage(std::max<uint64_t>(4096, needPageBytes)));
    }
  };
  const auto allGroups = [](HashAggregator& aggregator) {
    aggregator.beginOutput({});
    return aggregator.nextBatch(1 << 20);
  };

  HashAggregator direct(options, table);
  for (const TestBatch& t : batches) {
    const OutputBatch decoded = decode(t.types, encode(t, IpcCompression::kNone));
    const BatchView view = projectedView(decoded, types, columns);
    for (uint64_t row = 0; row < view.numRows;) {
      const HashAggregator::InsertResult r = direct.insert(view, row);
      row = r.nextRow;
      if (r.needArray || r.needPageBytes > 0) grant(direct, r.needArray, r.needPageBytes);
    }
  }
  const OutputBatch expected = allGroups(direct);

  HashAggregator pulling(options, table);
  PullableReader source(file.path, 0, stream.size(), types);
  const PulledBatch& pulled = source.pulled;
  uint64_t rows = 0;
  bool stoppedInsideABatch = false;
  for (int call = 0;; ++call) {
    CHECK(call < 10'000);
    const PullResult r = insertFromReader(pulling, source, columns, 1,
                                          [](const HashAggregator::InsertResult& i) { return i.needPageBytes; });
    rows += r.rows;
    stoppedInsideABatch |= pulled.active && pulled.nextRow > 0;
    if (r.done) break;
    if (r.needArray || r.needPageBytes > 0) grant(pulling, r.needArray, r.needPageBytes);
  }
  CHECK_EQ(rows, uint64_t{2100});
  CHECK(stoppedInsideABatch);
  CHECK(!pulled.active);
  const OutputBatch actual = allGroups(pulling);
  CHECK_EQ(actual.numRows, expected.numRows);
  checkSameColumns(expected, actual);
  table->freeAllPages();
}
