// The native half of one task attempt's TaskMemoryManager: its page table.
//
// What is tracked: which of the 8192 page numbers are in use, and the page behind each. What
// is not: how many bytes the task may have. That is the TypeScript TaskMemoryManager's job;
// allocatePage() takes the number of bytes TypeScript already acquired from the memory manager
// and allocates exactly that, never more (DESIGN.md §2, the grant protocol).
//
// allocatePage(grantedBytes):
//   1. grantedBytes > kMaximumPageSizeBytes -> kTooLargePage. (TypeScript checks this before it
//      acquires anything; the check here keeps native/core safe on its own.)
//   2. Take the lowest free page number; none free -> kPageTableFull, nothing allocated.
//   3. Allocate from the PageAllocator; if the system has no memory, give the number back and
//      return nullptr, so TypeScript can keep the grant, spill and retry.
//   4. Record the page under its number, set page->pageNumber.
// freePage(page): check the sentinels and that this table owns the page, clear the slot, mark
//   the page -2, and hand it to the allocator, which marks it -3.
// freeAllPages(): the same for every live page; returns the bytes, so the caller can report a
//   leak (Spark's cleanUpAllAllocatedMemory).
//
// Not thread-safe: a task's pages are allocated and freed by its own control flow, one call at
// a time. Native workers may read page bytes through pointerTo() while no page is allocated or
// freed, which the grant protocol guarantees (TypeScript awaits the worker first).
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "memory_block.h"
#include "page_address.h"

namespace tungsten {

class PageAllocator;

class TaskPageTable {
 public:
  explicit TaskPageTable(PageAllocator& allocator);
  ~TaskPageTable();
  TaskPageTable(const TaskPageTable&) = delete;
  TaskPageTable& operator=(const TaskPageTable&) = delete;

  std::shared_ptr<MemoryBlock> allocatePage(uint64_t grantedBytes);
  void freePage(MemoryBlock& page);
  // Grows a live page of this table to `grantedBytes` (see PageAllocator::grow); false when the
  // system has no memory.
  bool growPage(MemoryBlock& page, uint64_t grantedBytes);
  uint64_t freeAllPages();

  uint32_t livePages() const { return livePages_; }
  uint64_t liveBytes() const { return liveBytes_; }

  // Off-heap encoding: the offset is made relative to the page's base address.
  static uint64_t encodeAbsolute(const MemoryBlock& page, uintptr_t absoluteAddress) {
    return encodePageNumberAndOffset(static_cast<uint32_t>(page.pageNumber),
                                     absoluteAddress - page.baseAddress());
  }
  // Spark's getOffsetInPage for off-heap pages: the absolute address again.
  uintptr_t absoluteAddress(uint64_t address) const {
    return reinterpret_cast<uintptr_t>(pageBase_[decodePageNumber(address)]) + decodeOffset(address);
  }
  // The hot-path decode used by sorters: no bounds or liveness check.
  uint8_t* pointerTo(uint64_t address) const {
    return pageBase_[decodePageNumber(address)] + decodeOffset(address);
  }
  // nullptr when the page number is not live in this table.
  MemoryBlock* page(uint32_t pageNumber) const {
    return pageNumber < kPageTableSize ? pages_[pageNumber].get() : nullptr;
  }
  // Throws kInvalidPageState unless `block` is a live page of this table (what an operator
  // checks before it writes into a page TypeScript handed over).
  void checkOwnPage(const MemoryBlock& block) const;

 private:
  int lowestFreePageNumber() const;
  void markUsed(int pageNumber, bool used);

  static constexpr int kBitmapWords = kPageTableSize / 64;
  PageAllocator& allocator_;
  std::array<std::shared_ptr<MemoryBlock>, kPageTableSize> pages_;
  std::array<uint8_t*, kPageTableSize> pageBase_{};
  std::array<uint64_t, kBitmapWords> usedBits_{};
  uint32_t livePages_ = 0;
  uint64_t liveBytes_ = 0;
};

}  // namespace tungsten
