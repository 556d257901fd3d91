#include "arrow_output.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace tungsten {

namespace {

constexpr size_t kMappedOutputBytes = size_t{64} << 10;

// Output bytes allocated and not yet freed, over every operator of the process.
std::atomic<uint64_t> liveOutputBytes{0};

size_t mappedLength(size_t size) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (size + page - 1) / page * page;
}

}  // namespace

OutputBuffer allocateOutputBuffer(size_t size, bool zero) {
  OutputBuffer buffer;
  buffer.size = size;
  if (size == 0) return buffer;
  void* p = nullptr;
  if (size >= kMappedOutputBytes) {
    p = ::mmap(nullptr, mappedLength(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();  // mapped pages are zero already
  } else {
    p = zero ? std::calloc(1, size) : std::malloc(size);
    if (p == nullptr) throw std::bad_alloc();
  }
  buffer.data = std::unique_ptr<uint8_t, OutputBytesDeleter>(static_cast<uint8_t*>(p), OutputBytesDeleter{size});
  liveOutputBytes.fetch_add(size, std::memory_order_relaxed);
  return buffer;
}

uint64_t outputBytesLive() { return liveOutputBytes.load(std::memory_order_relaxed); }

void freeOutputBytes(void* data, size_t size) {
  if (data == nullptr) return;
  liveOutputBytes.fetch_sub(size, std::memory_order_relaxed);
  if (size >= kMappedOutputBytes) {
    ::munmap(data, mappedLength(size));
  } else {
    std::free(data);
  }
}

OutputBuffer OutputArena::take(size_t size, bool zero) {
  if (next_ == blocks_.size()) blocks_.emplace_back();
  ByteVector& block = blocks_[next_++];
  if (block.size() < size) block.resize(size);
  if (zero) std::memset(block.data(), 0, size);
  OutputBuffer buffer;
  buffer.size = size;
  if (size > 0) buffer.data = std::unique_ptr<uint8_t, OutputBytesDeleter>(block.data(), OutputBytesDeleter{size, false});
  return buffer;
}

OutputBatch buildOutputBatch(const RowLayout& layout, const uint8_t* const* records, uint64_t n, OutputArena* arena) {
  std::vector<const uint8_t*> payloads(n);
  for (uint64_t i = 0; i < n; ++i) payloads[i] = RowLayout::payload(records[i]);
  OutputBatch batch;
  batch.numRows = n;
  batch.columns = buildOutputColumns(layout, payloads.data(), n, arena);
  return batch;
}

std::vector<OutputColumn> buildOutputColumns(const RowLayout& layout, const uint8_t* const* payloads, uint64_t n,
                                             OutputArena* arena) {
  auto allocate = [arena](size_t size, bool zero) {
    return arena != nullptr ? arena->take(size, zero) : allocateOutputBuffer(size, zero);
  };
  // Rows come in sorted order, so they sit at random places in the pages: each row's cache
  // line is fetched once, by one row-wise pass that prefetches a few rows ahead and copies every
  // fixed-width value and null bit; var-width bytes follow in a second pass over rows that are
  // now in cache.
  constexpr uint64_t kPrefetchDistance = 16;
  const uint32_t numColumns = layout.numColumns();
  std::vector<OutputColumn> columns(numColumns);

  struct FixedTarget {
    uint32_t column;
    uint32_t slot;
    uint32_t width;
    uint8_t* out;
  };
  std::vector<FixedTarget> fixed;
  std::vector<uint8_t*> validity(numColumns);
  std::vector<uint64_t> varTotal(numColumns, 0);
  for (uint32_t c = 0; c < numColumns; ++c) {
    OutputColumn& column = columns[c];
    const ColumnType& type = layout.columns()[c];
    column.validity = allocate((n + 7) / 8, true);
    validity[c] = column.validity.data.get();
    if (type.physical == PhysicalType::kBool) {
      column.values = allocate((n + 7) / 8, true);
    } else if (type.physical == PhysicalType::kVarBinary) {
      column.offsets = allocate((n + 1) * type.width, false);
    } else {
      column.values = allocate(n * slotBytes(type), false);
      fixed.push_back({c, layout.slotOffset(c), slotBytes(type), column.values.data.get()});
    }
  }

  for (uint64_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) __builtin_prefetch(payloads[i + kPrefetchDistance]);
    const uint8_t* payload = payloads[i];
    for (uint32_t c = 0; c < numColumns; ++c) {
      if (RowLayout::isNull(payload, c)) {
        ++columns[c].nullCount;
      } else {
        validity[c][i >> 3] |= uint8_t(1u << (i & 7));
      }
    }
    for (const FixedTarget& target : fixed) {
      const uint8_t* from = payload + target.slot;
      uint8_t* to = target.out + i * target.width;
      switch (target.width) {
        case 1: *to = *from; break;
        case 2: std::memcpy(to, from, 2); break;
        case 4: std::memcpy(to, from, 4); break;
        case 8: std::memcpy(to, from, 8); break;
        case 16: std::memcpy(to, from, 16); break;
        default: std::memcpy(to, from, target.width);
      }
    }
  }

  for (uint32_t c = 0; c < numColumns; ++c) {
    OutputColumn& column = columns[c];
    const ColumnType& type = layout.columns()[c];
    const uint32_t slot = layout.slotOffset(c);
    if (column.nullCount == 0) column.validity = OutputBuffer{};
    if (type.physical == PhysicalType::kBool) {
      uint8_t* bits = column.values.data.get();
      for (uint64_t i = 0; i < n; ++i) {
        if (payloads[i][slot]) bits[i >> 3] |= uint8_t(1u << (i & 7));
      }
    } else if (type.physical == PhysicalType::kVarBinary) {
      uint64_t total = 0;
      for (uint64_t i = 0; i < n; ++i) {
        uint32_t length;
        std::memcpy(&length, payloads[i] + slot + 4, 4);
        total += length;
      }
      column.values = allocate(total, false);
      uint8_t* offsets = column.offsets.data.get();
      uint8_t* values = column.values.data.get();
      uint64_t at = 0;
      for (uint64_t i = 0; i <= n; ++i) {
        if (type.width == 4) {
          const int32_t o = static_cast<int32_t>(at);
          std::memcpy(offsets + i * 4, &o, 4);
        } else {
          const int64_t o = static_cast<int64_t>(at);
          std::memcpy(offsets + i * 8, &o, 8);
        }
        if (i == n) break;
        uint32_t length;
        const uint8_t* bytes = RowLayout::varValue(payloads[i], slot, &length);
        std::memcpy(values + at, bytes, length);
        at += length;
      }
    }
  }
  return columns;
}

}  // namespace tungsten
