// The one allocator of native pages (Spark's MemoryAllocator.UNSAFE).
//
// Every byte of every Tungsten page comes from here, and only after TypeScript granted it: the
// page table (task_page_table.h) calls allocate() with the size the TaskMemoryManager acquired,
// and nothing else in native/core allocates pages. The live counters are what the tests and
// benchmarks compare with the memory managers' accounting ("memory is exact").
//
// Large blocks are mapped with mmap so that freeing them returns the memory to the system at
// once; glibc's malloc would raise its mmap threshold after the first large free and keep later
// pages on the heap, where freed memory may stay resident and peak RSS drifts above the budget.
//
// Freed blocks go straight back to the system. (A pool of freed pages was tried and measured
// slower here: the kernel already recycles freed pages cheaply, while pooled pages push new
// allocations onto memory the hypervisor has never backed, the expensive kind of first touch.)
//
// Debug fill (Spark's spark.memory.debugFill): 0xa5 over fresh memory, 0x5a over freed memory,
// so that reading uninitialised or freed page bytes shows up in tests. On by default in debug
// builds, off in release builds; setDebugFill() changes it at run time.
//
// Thread safety: allocate() and free() may be called from any thread; the counters are atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "memory_block.h"

namespace tungsten {

inline constexpr uint8_t kDebugFillAllocated = 0xa5;
inline constexpr uint8_t kDebugFillFreed = 0x5a;
// Blocks at least this large are mapped rather than taken from malloc.
inline constexpr uint64_t kMmapThresholdBytes = 64 * 1024;

struct AllocatorStats {
  uint64_t liveBytes;
  uint64_t liveBlocks;
  uint64_t peakLiveBytes;
  uint64_t totalAllocations;
};

class PageAllocator {
 public:
  static PageAllocator& instance();

  // Returns nullptr when the system has no memory for the block (or an injected failure is
  // pending), so that the caller can keep the grant and spill before retrying, as Spark's
  // TaskMemoryManager does. Throws kInvalidArgument for size 0.
  std::shared_ptr<MemoryBlock> allocate(uint64_t size);

  // Grows a live block to `newSize` bytes, keeping its contents (and its page number): a
  // mapped block is remapped, so the kernel moves page tables instead of copying bytes, and
  // the old bytes are not touched again. Returns false, changing nothing, when the system has
  // no memory. The caller accounts the extra bytes before calling.
  bool grow(MemoryBlock& block, uint64_t newSize);

  // Returns the bytes of a block whose page number is -1 (allocated directly) or -2 (released
  // by its page table), and marks it -3. Throws kInvalidPageState for a live page-table page
  // (>= 0) or a block already freed (-3).
  void free(MemoryBlock& block);

  // Asks the kernel to back a mapped block with 4 KiB pages only, before it is touched: for a
  // block written in a few places far apart, where each first touch of a huge page zeroes 2 MiB
  // (a bypass writer's 16 MiB buffer holding a thousand rows zeroed all of it). Harmless for a
  // malloc'd block (left alone).
  static void preferSmallPages(const MemoryBlock& block);

  bool debugFill() const { return debugFill_.load(std::memory_order_relaxed); }
  void setDebugFill(bool on) { debugFill_.store(on, std::memory_order_relaxed); }

  AllocatorStats stats() const;
  // Test hook: the next `count` allocations fail as if the system were out of memory.
  void failNextAllocations(uint32_t count) { injectedFailures_.store(count); }

 private:
  PageAllocator();
  friend struct MemoryBlock;
  void release(MemoryBlock& block);
  void countAllocated(uint64_t bytes);


  std::atomic<bool> debugFill_;
  std::atomic<uint64_t> liveBytes_{0};
  std::atomic<uint64_t> liveBlocks_{0};
  std::atomic<uint64_t> peakLiveBytes_{0};
  std::atomic<uint64_t> totalAllocations_{0};
  std::atomic<uint32_t> injectedFailures_{0};
};

}  // namespace tungsten
