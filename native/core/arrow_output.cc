#include "arrow_output.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace tungsten {

namespace {

constexpr size_t kMappedOutputBytes = size_t{64} << 10;

// Output bytes allocated and not yet freed, over every operator of the process.
std::atomic<uint64_t> liveOutputBytes{0};

size_t mappedLength(size_t size) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (size + page - 1) / page * page;
}

// Freed mappings kept for the next batches (see kCachedOutputBytes in the header): a batch's
// buffers are freed on the event loop's thread and the next batch of the same shape is
// allocated on a worker a moment later, so an exact-length match is the common case. The
// oldest mapping is unmapped first when the cache would exceed its bound.
class MappingCache {
 public:
  void* take(size_t length) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = entries_.size(); i-- > 0;) {
      if (entries_[i].length != length) continue;
      void* p = entries_[i].data;
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
      cachedBytes_ -= length;
      return p;
    }
    return nullptr;
  }

  void put(void* data, size_t length) {
    std::vector<Entry> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (length > kCachedOutputBytes) {
        evicted.push_back({data, length});
      } else {
        entries_.push_back({data, length});
        cachedBytes_ += length;
        while (cachedBytes_ > kCachedOutputBytes) {
          evicted.push_back(entries_.front());
          cachedBytes_ -= entries_.front().length;
          entries_.erase(entries_.begin());
        }
      }
    }
    for (const Entry& entry : evicted) ::munmap(entry.data, entry.length);
  }

  void clear() {
    std::vector<Entry> entries;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      entries.swap(entries_);
      cachedBytes_ = 0;
    }
    for (const Entry& entry : entries) ::munmap(entry.data, entry.length);
  }

  uint64_t cachedBytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cachedBytes_;
  }

 private:
  struct Entry {
    void* data;
    size_t length;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
  uint64_t cachedBytes_ = 0;
};

// Never destroyed: buffers may be freed by garbage collection while the process exits.
MappingCache& mappingCache() {
  static MappingCache* cache = new MappingCache();
  return *cache;
}

}  // namespace

OutputBuffer allocateOutputBuffer(size_t size, bool zero) {
  OutputBuffer buffer;
  buffer.size = size;
  if (size == 0) return buffer;
  void* p = nullptr;
  if (size >= kMappedOutputBytes) {
    const size_t length = mappedLength(size);
    p = mappingCache().take(length);
    if (p != nullptr) {
      if (zero) std::memset(p, 0, size);
    } else {
      p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();  // mapped pages are zero already
    }
  } else {
    p = zero ? std::calloc(1, size) : std::malloc(size);
    if (p == nullptr) throw std::bad_alloc();
  }
  buffer.data = std::unique_ptr<uint8_t, OutputBytesDeleter>(static_cast<uint8_t*>(p), OutputBytesDeleter{size});
  liveOutputBytes.fetch_add(size, std::memory_order_relaxed);
  return buffer;
}

uint64_t outputBytesLive() { return liveOutputBytes.load(std::memory_order_relaxed); }

uint64_t outputBytesCached() { return mappingCache().cachedBytes(); }

void releaseCachedOutputBytes() { mappingCache().clear(); }

void freeOutputBytes(void* data, size_t size) {
  if (data == nullptr) return;
  liveOutputBytes.fetch_sub(size, std::memory_order_relaxed);
  if (size >= kMappedOutputBytes) {
    mappingCache().put(data, mappedLength(size));
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
