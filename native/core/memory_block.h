// A contiguous run of native memory: one Tungsten page, or a block taken from the allocator
// directly. The page number doubles as a state, with Spark's sentinels (MemoryBlock.java):
//
//   >= 0  the page is live in a task's page table under that number
//   -1    kNoPageNumber: allocated by the allocator directly, not through a page table
//   -2    kFreedInTmmPageNumber: the page table let go of it; the allocator frees it next
//   -3    kFreedInAllocatorPageNumber: the bytes went back to the system
//
// The two-step free (-2, then -3) is what lets both the page table and the allocator detect a
// double free and a page freed through the wrong door; the tests assert the sentinels.
#pragma once

#include <cstdint>

namespace tungsten {

inline constexpr int32_t kNoPageNumber = -1;
inline constexpr int32_t kFreedInTmmPageNumber = -2;
inline constexpr int32_t kFreedInAllocatorPageNumber = -3;

struct MemoryBlock {
  uint8_t* data = nullptr;
  uint64_t size = 0;
  int32_t pageNumber = kNoPageNumber;
  bool mapped = false;  // true when the bytes come from mmap rather than malloc

  MemoryBlock() = default;
  MemoryBlock(const MemoryBlock&) = delete;
  MemoryBlock& operator=(const MemoryBlock&) = delete;
  // Returns the bytes if nobody freed them (a JavaScript handle collected while still live).
  // Accounting-wise that is a leak the task's cleanup already reported; here it only must not
  // become a leak of real memory.
  ~MemoryBlock();

  uintptr_t baseAddress() const { return reinterpret_cast<uintptr_t>(data); }
};

}  // namespace tungsten
