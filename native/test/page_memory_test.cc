// Unit tests of the page address encoding, the allocator and the page table (spark-semantics
// §1.6 and §1.8; AC-TMM-02..04 at the native level).
#include <cstring>
#include <vector>

#include "arrow_output.h"
#include "harness.h"
#include "page_address.h"
#include "page_allocator.h"
#include "task_page_table.h"

using namespace tungsten;

namespace {
uint64_t liveBytes() { return PageAllocator::instance().stats().liveBytes; }
uint64_t liveBlocks() { return PageAllocator::instance().stats().liveBlocks; }
}  // namespace

TEST(address_round_trips_at_the_bit_limits) {
  const uint32_t pageNumbers[] = {0, 1, 4095, 4096, 8190, 8191};
  const uint64_t offsets[] = {0, 1, 42, (uint64_t{1} << 32) - 1, uint64_t{1} << 32,
                              kMaximumPageSizeBytes, kOffsetMask - 1, kOffsetMask};
  for (uint32_t page : pageNumbers) {
    for (uint64_t offset : offsets) {
      uint64_t address = encodePageNumberAndOffset(page, offset);
      CHECK_EQ(decodePageNumber(address), page);
      CHECK_EQ(decodeOffset(address), offset);
    }
  }
  // The top page number sets the sign bit; decoding is unsigned, so it stays 8191.
  CHECK_EQ(encodePageNumberAndOffset(8191, 0), uint64_t{8191} << 51);
  CHECK(static_cast<int64_t>(encodePageNumberAndOffset(8191, 0)) < 0);
}

TEST(address_offset_bits_above_51_are_dropped) {
  uint64_t address = encodePageNumberAndOffset(3, (uint64_t{1} << 51) + 10);
  CHECK_EQ(decodePageNumber(address), 3u);
  CHECK_EQ(decodeOffset(address), uint64_t{10});
}

TEST(ac_tmm_02_static_encode) {
  CHECK_EQ(encodePageNumberAndOffset(1, 42), uint64_t{2251799813685290ull});
  CHECK_EQ(decodePageNumber(2251799813685290ull), 1u);
}

TEST(ac_tmm_02_off_heap_absolute_offset_round_trip) {
  TaskPageTable table(PageAllocator::instance());
  auto page = table.allocatePage(256);
  CHECK(page != nullptr);
  // An absolute address needing more than 51 bits still comes back exactly, because the
  // encoding stores it relative to the page's base.
  const uintptr_t absolute = (uintptr_t{1} << 51) + 10;
  uint64_t address = TaskPageTable::encodeAbsolute(*page, absolute);
  CHECK_EQ(decodePageNumber(address), static_cast<uint32_t>(page->pageNumber));
  CHECK_EQ(table.absoluteAddress(address), absolute);
  uint64_t inside = TaskPageTable::encodeAbsolute(*page, page->baseAddress() + 64);
  CHECK(table.pointerTo(inside) == page->data + 64);
  table.freePage(*page);
}

TEST(page_numbers_are_taken_lowest_first_and_reused) {
  TaskPageTable table(PageAllocator::instance());
  auto p0 = table.allocatePage(16);
  auto p1 = table.allocatePage(16);
  auto p2 = table.allocatePage(16);
  CHECK_EQ(p0->pageNumber, 0);
  CHECK_EQ(p1->pageNumber, 1);
  CHECK_EQ(p2->pageNumber, 2);
  table.freePage(*p1);
  auto again = table.allocatePage(16);
  CHECK_EQ(again->pageNumber, 1);
  CHECK_EQ(table.livePages(), 3u);
  CHECK_EQ(table.freeAllPages(), uint64_t{48});
}

TEST(ac_tmm_04_page_table_exhaustion) {
  const uint64_t before = liveBlocks();
  TaskPageTable table(PageAllocator::instance());
  std::vector<std::shared_ptr<MemoryBlock>> pages;
  for (int i = 0; i < kPageTableSize; ++i) pages.push_back(table.allocatePage(8));
  CHECK_EQ(table.livePages(), static_cast<uint32_t>(kPageTableSize));
  CHECK_EQ(pages.back()->pageNumber, kPageTableSize - 1);
  CHECK_THROWS_CODE(table.allocatePage(8), ErrorCode::kPageTableFull);
  // The failed call allocated nothing.
  CHECK_EQ(liveBlocks(), before + kPageTableSize);
  table.freePage(*pages[4321]);
  CHECK_EQ(table.allocatePage(8)->pageNumber, 4321);
  CHECK_EQ(table.freeAllPages(), uint64_t{8} * kPageTableSize);
  CHECK_EQ(liveBlocks(), before);
}

TEST(ac_tmm_04_too_large_page_allocates_nothing) {
  const uint64_t before = liveBytes();
  TaskPageTable table(PageAllocator::instance());
  CHECK_THROWS_CODE(table.allocatePage(kMaximumPageSizeBytes + 1), ErrorCode::kTooLargePage);
  CHECK_EQ(table.livePages(), 0u);
  CHECK_EQ(liveBytes(), before);
}

TEST(ac_tmm_03_sentinels_through_the_page_table) {
  TaskPageTable table(PageAllocator::instance());
  auto page = table.allocatePage(128);
  CHECK(page->pageNumber >= 0);
  // A live page-table page cannot be freed directly in the allocator.
  CHECK_THROWS_CODE(PageAllocator::instance().free(*page), ErrorCode::kInvalidPageState);
  table.freePage(*page);
  CHECK_EQ(page->pageNumber, kFreedInAllocatorPageNumber);
  CHECK(page->data == nullptr);
  // Double free, through either door.
  CHECK_THROWS_CODE(table.freePage(*page), ErrorCode::kInvalidPageState);
  CHECK_THROWS_CODE(PageAllocator::instance().free(*page), ErrorCode::kInvalidPageState);
}

TEST(ac_tmm_03_direct_allocation_is_not_a_page) {
  auto block = PageAllocator::instance().allocate(64);
  CHECK_EQ(block->pageNumber, kNoPageNumber);
  TaskPageTable table(PageAllocator::instance());
  CHECK_THROWS_CODE(table.freePage(*block), ErrorCode::kInvalidPageState);
  PageAllocator::instance().free(*block);
  CHECK_EQ(block->pageNumber, kFreedInAllocatorPageNumber);
}

TEST(foreign_page_is_rejected) {
  TaskPageTable mine(PageAllocator::instance());
  TaskPageTable theirs(PageAllocator::instance());
  auto ownPage = mine.allocatePage(32);
  auto foreign = theirs.allocatePage(32);
  // Both are page 0 of their tables; only the owner may free it.
  CHECK_EQ(ownPage->pageNumber, foreign->pageNumber);
  CHECK_THROWS_CODE(mine.freePage(*foreign), ErrorCode::kInvalidPageState);
  CHECK_EQ(foreign->pageNumber, 0);
  CHECK_EQ(mine.livePages(), 1u);
  CHECK_EQ(theirs.livePages(), 1u);
}

TEST(free_all_pages_reports_bytes_and_marks_sentinels) {
  const uint64_t before = liveBytes();
  TaskPageTable table(PageAllocator::instance());
  auto a = table.allocatePage(4096);
  auto b = table.allocatePage(100000);  // mapped
  CHECK(b->mapped);
  CHECK(!a->mapped);
  CHECK_EQ(liveBytes(), before + 104096);
  CHECK_EQ(table.freeAllPages(), uint64_t{104096});
  CHECK_EQ(a->pageNumber, kFreedInAllocatorPageNumber);
  CHECK_EQ(b->pageNumber, kFreedInAllocatorPageNumber);
  CHECK_EQ(liveBytes(), before);
  CHECK_EQ(table.freeAllPages(), uint64_t{0});
}

TEST(allocation_failure_returns_null_and_keeps_the_page_number_free) {
  TaskPageTable table(PageAllocator::instance());
  PageAllocator::instance().failNextAllocations(1);
  CHECK(table.allocatePage(64) == nullptr);
  CHECK_EQ(table.livePages(), 0u);
  auto page = table.allocatePage(64);
  CHECK(page != nullptr);
  CHECK_EQ(page->pageNumber, 0);
}

TEST(debug_fill_marks_fresh_memory) {
  PageAllocator& allocator = PageAllocator::instance();
  const bool was = allocator.debugFill();
  allocator.setDebugFill(true);
  for (uint64_t size : {uint64_t{100}, kMmapThresholdBytes * 2}) {
    auto block = allocator.allocate(size);
    bool allFilled = true;
    for (uint64_t i = 0; i < size; ++i) allFilled &= block->data[i] == kDebugFillAllocated;
    CHECK(allFilled);
    allocator.free(*block);
  }
  allocator.setDebugFill(was);
}

TEST(zero_byte_allocation_is_rejected) {
  CHECK_THROWS_CODE(PageAllocator::instance().allocate(0), ErrorCode::kInvalidArgument);
}

TEST(a_dropped_live_block_returns_its_bytes) {
  const uint64_t before = liveBytes();
  { auto block = PageAllocator::instance().allocate(5000); }
  CHECK_EQ(liveBytes(), before);
}

TEST(grow_page_keeps_contents_number_and_accounting) {
  const uint64_t before = liveBytes();
  TaskPageTable table(PageAllocator::instance());
  for (uint64_t start : {uint64_t{1000}, kMmapThresholdBytes * 2, uint64_t{3} << 20}) {
    auto page = table.allocatePage(start);
    const int32_t number = page->pageNumber;
    for (uint64_t i = 0; i < start; ++i) page->data[i] = static_cast<uint8_t>(i * 7);
    const uint64_t address = encodePageNumberAndOffset(static_cast<uint32_t>(number), start - 1);
    CHECK(table.growPage(*page, start * 4));
    CHECK_EQ(page->pageNumber, number);
    CHECK_EQ(page->size, start * 4);
    bool same = true;
    for (uint64_t i = 0; i < start; ++i) same &= page->data[i] == static_cast<uint8_t>(i * 7);
    CHECK(same);
    CHECK(table.pointerTo(address) == page->data + start - 1);
    page->data[start * 4 - 1] = 1;  // the new tail is writable
    CHECK_EQ(table.liveBytes(), start * 4);
    table.freePage(*page);
  }
  CHECK_EQ(liveBytes(), before);
  TaskPageTable other(PageAllocator::instance());
  auto foreign = other.allocatePage(64);
  CHECK_THROWS_CODE(table.growPage(*foreign, 128), ErrorCode::kInvalidPageState);
}

TEST(freed_output_mappings_are_reused_zeroed_when_asked_and_bounded) {
  releaseCachedOutputBytes();
  const uint64_t live = outputBytesLive();
  const size_t size = (size_t{1} << 20) + 3;  // mapped; its page-rounded length is the cache key
  uint8_t* first = nullptr;
  {
    OutputBuffer buffer = allocateOutputBuffer(size, false);
    first = buffer.data.get();
    std::memset(first, 0x77, size);
    CHECK_EQ(outputBytesLive(), live + size);
  }
  CHECK_EQ(outputBytesLive(), live);
  CHECK(outputBytesCached() >= size);
  {
    OutputBuffer again = allocateOutputBuffer(size, true);
    CHECK(again.data.get() == first);
    bool zero = true;
    for (size_t i = 0; i < size; ++i) zero = zero && again.data.get()[i] == 0;
    CHECK(zero);
    CHECK_EQ(outputBytesCached(), uint64_t{0});
  }
  {
    OutputBuffer other = allocateOutputBuffer(size + 4096, false);  // another length: not reused
    CHECK(other.data.get() != first);
  }
  // Freeing more than the bound unmaps the oldest mappings; the cache never holds more.
  std::vector<OutputBuffer> many;
  for (int i = 0; i < 40; ++i) many.push_back(allocateOutputBuffer(size_t{1} << 20, false));
  many.clear();
  CHECK(outputBytesCached() <= kCachedOutputBytes);
  CHECK(outputBytesCached() >= kCachedOutputBytes - (size_t{2} << 20));
  releaseCachedOutputBytes();
  CHECK_EQ(outputBytesCached(), uint64_t{0});
  CHECK_EQ(outputBytesLive(), live);
}
