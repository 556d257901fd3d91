#include "page_allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "errors.h"

namespace tungsten {

namespace {
#ifdef NDEBUG
constexpr bool kDebugFillDefault = false;
#else
constexpr bool kDebugFillDefault = true;
#endif
// Cache-line alignment lets the sorter's pointer arrays and rows start on a line boundary.
constexpr size_t kBlockAlignment = 64;
// Blocks this large are aligned to and advised as transparent huge pages: a sort touches its
// pages at random (the pointer array scatter, the output gather), and with 4 KiB pages nearly
// every such access misses the TLB; faulting in 2 MiB at a time also cuts page faults 512-fold.
constexpr uint64_t kHugePageBytes = 2 << 20;

// Maps `size` bytes, 2 MiB-aligned when large, so the kernel can back them with huge pages.
void* mapBlock(uint64_t size) {
  if (size < kHugePageBytes) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  const uint64_t padded = size + kHugePageBytes;
  void* raw = mmap(nullptr, padded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  // Give back the unaligned head and the tail beyond `size`; neither was ever touched.
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t end = aligned + size;
  const uintptr_t rawEnd = start + padded;
  if (rawEnd > end) munmap(reinterpret_cast<void*>(end), rawEnd - end);
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}
}  // namespace

void PageAllocator::preferSmallPages(const MemoryBlock& block) {
  if (block.mapped && block.size >= kHugePageBytes) madvise(block.data, block.size, MADV_NOHUGEPAGE);
}

MemoryBlock::~MemoryBlock() {
  if (data != nullptr) PageAllocator::instance().release(*this);
}

PageAllocator::PageAllocator() : debugFill_(kDebugFillDefault) {}

PageAllocator& PageAllocator::instance() {
  // Never destroyed: blocks owned by JavaScript handles may be finalized after static
  // destructors would have run.
  static PageAllocator* allocator = new PageAllocator();
  return *allocator;
}

std::shared_ptr<MemoryBlock> PageAllocator::allocate(uint64_t size) {
  if (size == 0) throw Error(ErrorCode::kInvalidArgument, "cannot allocate a block of 0 bytes");
  uint32_t pending = injectedFailures_.load();
  while (pending > 0 && !injectedFailures_.compare_exchange_weak(pending, pending - 1)) {
  }
  if (pending > 0) return nullptr;

  auto block = std::make_shared<MemoryBlock>();
  if (size >= kMmapThresholdBytes) {
    void* p = mapBlock(size);
    if (p == nullptr) return nullptr;
    block->data = static_cast<uint8_t*>(p);
    block->mapped = true;
  } else {
    void* p = nullptr;
    if (posix_memalign(&p, kBlockAlignment, size) != 0) return nullptr;
    block->data = static_cast<uint8_t*>(p);
  }
  block->size = size;
  block->pageNumber = kNoPageNumber;
  if (debugFill()) std::memset(block->data, kDebugFillAllocated, size);
  liveBlocks_.fetch_add(1);
  totalAllocations_.fetch_add(1);
  countAllocated(size);
  return block;
}

void PageAllocator::countAllocated(uint64_t bytes) {
  uint64_t live = liveBytes_.fetch_add(bytes) + bytes;
  uint64_t peak = peakLiveBytes_.load();
  while (live > peak && !peakLiveBytes_.compare_exchange_weak(peak, live)) {
  }
}

bool PageAllocator::grow(MemoryBlock& block, uint64_t newSize) {
  if (block.data == nullptr || newSize <= block.size) {
    throw Error(ErrorCode::kInvalidArgument, "a block can only grow, and only while it is live");
  }
  const uint64_t oldSize = block.size;
  uint8_t* data = nullptr;
  bool mapped = true;
  if (block.mapped) {
    void* p = mremap(block.data, oldSize, newSize, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) return false;
    data = static_cast<uint8_t*>(p);
    if (newSize >= kHugePageBytes) madvise(data, newSize, MADV_HUGEPAGE);
  } else {
    // A small malloc'd block: move it to a block of the new size.
    if (newSize >= kMmapThresholdBytes) {
      data = static_cast<uint8_t*>(mapBlock(newSize));
    } else {
      void* p = nullptr;
      if (posix_memalign(&p, kBlockAlignment, newSize) == 0) data = static_cast<uint8_t*>(p);
      mapped = false;
    }
    if (data == nullptr) return false;
    std::memcpy(data, block.data, oldSize);
    std::free(block.data);
  }
  if (debugFill()) std::memset(data + oldSize, kDebugFillAllocated, newSize - oldSize);
  block.data = data;
  block.size = newSize;
  block.mapped = mapped;
  countAllocated(newSize - oldSize);
  return true;
}

void PageAllocator::free(MemoryBlock& block) {
  if (block.pageNumber == kFreedInAllocatorPageNumber || block.data == nullptr) {
    throw Error(ErrorCode::kInvalidPageState, "page has already been freed");
  }
  if (block.pageNumber != kNoPageNumber && block.pageNumber != kFreedInTmmPageNumber) {
    throw Error(ErrorCode::kInvalidPageState,
                "TMM-allocated pages must first be freed via TMM.freePage(), not directly in "
                "allocator free()");
  }
  release(block);
}

void PageAllocator::release(MemoryBlock& block) {
  if (debugFill()) std::memset(block.data, kDebugFillFreed, block.size);
  if (block.mapped) {
    munmap(block.data, block.size);
  } else {
    std::free(block.data);
  }
  liveBytes_.fetch_sub(block.size);
  liveBlocks_.fetch_sub(1);
  block.data = nullptr;
  block.pageNumber = kFreedInAllocatorPageNumber;
}

AllocatorStats PageAllocator::stats() const {
  return AllocatorStats{liveBytes_.load(), liveBlocks_.load(), peakLiveBytes_.load(), totalAllocations_.load()};
}

}  // namespace tungsten
