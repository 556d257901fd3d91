#include "task_page_table.h"

#include <string>

#include "errors.h"
#include "page_allocator.h"

namespace tungsten {

TaskPageTable::TaskPageTable(PageAllocator& allocator) : allocator_(allocator) {}

void TaskPageTable::checkOwnPage(const MemoryBlock& block) const {
  if (block.pageNumber < 0 || page(static_cast<uint32_t>(block.pageNumber)) != &block) {
    throw Error(ErrorCode::kInvalidPageState, "the block is not a live page of this task");
  }
}

TaskPageTable::~TaskPageTable() {
  // A destructor must not throw (std::terminate); the pages' own destructors return their
  // bytes if freeing through the table fails on a damaged state.
  try {
    freeAllPages();
  } catch (...) {
  }
}

int TaskPageTable::lowestFreePageNumber() const {
  for (int word = 0; word < kBitmapWords; ++word) {
    uint64_t freeBits = ~usedBits_[word];
    if (freeBits != 0) return word * 64 + __builtin_ctzll(freeBits);
  }
  return -1;
}

void TaskPageTable::markUsed(int pageNumber, bool used) {
  uint64_t bit = uint64_t{1} << (pageNumber % 64);
  if (used) {
    usedBits_[pageNumber / 64] |= bit;
  } else {
    usedBits_[pageNumber / 64] &= ~bit;
  }
}

std::shared_ptr<MemoryBlock> TaskPageTable::allocatePage(uint64_t grantedBytes) {
  if (grantedBytes > kMaximumPageSizeBytes) {
    throw Error(ErrorCode::kTooLargePage,
                "Cannot allocate a page with more than " + std::to_string(kMaximumPageSizeBytes) +
                    " bytes");
  }
  int pageNumber = lowestFreePageNumber();
  if (pageNumber < 0) {
    throw Error(ErrorCode::kPageTableFull,
                "Have already allocated a maximum of " + std::to_string(kPageTableSize) + " pages");
  }
  std::shared_ptr<MemoryBlock> page = allocator_.allocate(grantedBytes);
  if (!page) return nullptr;
  page->pageNumber = pageNumber;
  pages_[pageNumber] = page;
  pageBase_[pageNumber] = page->data;
  markUsed(pageNumber, true);
  ++livePages_;
  liveBytes_ += page->size;
  return page;
}

void TaskPageTable::freePage(MemoryBlock& page) {
  if (page.pageNumber == kNoPageNumber) {
    throw Error(ErrorCode::kInvalidPageState,
                "Called freePage() on memory that wasn't allocated with allocatePage()");
  }
  if (page.pageNumber == kFreedInAllocatorPageNumber || page.pageNumber == kFreedInTmmPageNumber) {
    throw Error(ErrorCode::kInvalidPageState,
                "Called freePage() on a memory block that has already been freed");
  }
  if (page.pageNumber < 0 || page.pageNumber >= kPageTableSize ||
      pages_[page.pageNumber].get() != &page) {
    throw Error(ErrorCode::kInvalidPageState,
                "Called freePage() on page " + std::to_string(page.pageNumber) +
                    " of another task's page table");
  }
  // Keep the block alive across the slot reset: the slot may hold the last reference.
  std::shared_ptr<MemoryBlock> owned = std::move(pages_[page.pageNumber]);
  pageBase_[page.pageNumber] = nullptr;
  markUsed(page.pageNumber, false);
  --livePages_;
  liveBytes_ -= page.size;
  page.pageNumber = kFreedInTmmPageNumber;
  allocator_.free(page);
}

bool TaskPageTable::growPage(MemoryBlock& page, uint64_t grantedBytes) {
  if (page.pageNumber < 0 || page.pageNumber >= kPageTableSize || pages_[page.pageNumber].get() != &page) {
    throw Error(ErrorCode::kInvalidPageState, "growPage() on a block that is not a live page of this table");
  }
  if (grantedBytes > kMaximumPageSizeBytes) {
    throw Error(ErrorCode::kTooLargePage,
                "Cannot allocate a page with more than " + std::to_string(kMaximumPageSizeBytes) + " bytes");
  }
  const uint64_t oldSize = page.size;
  if (!allocator_.grow(page, grantedBytes)) return false;
  pageBase_[page.pageNumber] = page.data;
  liveBytes_ += page.size - oldSize;
  return true;
}

uint64_t TaskPageTable::freeAllPages() {
  uint64_t freed = 0;
  for (int word = 0; word < kBitmapWords; ++word) {
    while (usedBits_[word] != 0) {
      int pageNumber = word * 64 + __builtin_ctzll(usedBits_[word]);
      MemoryBlock& page = *pages_[pageNumber];
      freed += page.size;
      freePage(page);
    }
  }
  return freed;
}

}  // namespace tungsten
