// The data pages an operator writes records into, and the write cursor in the newest one.
//
// Who owns what: TypeScript acquires every page through the task's TaskMemoryManager and hands
// it over (add); this class only checks that it is a live page of the task, writes where the
// cursor is, and drops its references on clear(), after which TypeScript frees the pages.
//
// What could go wrong: a task's memory cleaned up while an operator still holds pages (or its
// pointer or slot array) would leave it writing into freed memory; checkLive() turns that into
// kInvalidPageState before any write.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "memory_block.h"
#include "row_format.h"
#include "task_page_table.h"

namespace tungsten {

class DataPages {
 public:
  // `headerBytes` at the start of each page are zeroed and never handed out as record space.
  DataPages(const TaskPageTable& table, const char* owner, uint32_t headerBytes = 0)
      : table_(table), owner_(owner), headerBytes_(headerBytes) {}

  // Takes a live page of the table, larger than the header; the cursor moves to its start.
  void add(std::shared_ptr<MemoryBlock> page);
  void clear();

  size_t count() const { return pages_.size(); }
  // Bytes left after the cursor; 0 before the first page.
  uint64_t room() const { return static_cast<uint64_t>(end_ - cursor_); }
  uint8_t* cursor() const { return cursor_; }
  // Hands out `bytes` at the cursor (room() must allow it).
  uint8_t* take(uint64_t bytes) {
    uint8_t* at = cursor_;
    cursor_ += bytes;
    return at;
  }
  // Room at the cursor for the records of as many of rows [row, row + limit) of `batch` as fit:
  // records[i] is where row + i's record goes. Returns how many; when none fits, *blockedBy is
  // the bytes the first record needs (a page must have at least that much room).
  uint64_t takeRecords(const RowLayout& layout, const BatchView& batch, uint64_t row, uint64_t limit,
                       uint8_t** records, uint64_t* blockedBy);
  MemoryBlock& current() const { return *current_; }
  // The encoded address (page_address.h) of `p`, which lies in the newest page.
  uint64_t addressOf(const uint8_t* p) const {
    return encodePageNumberAndOffset(static_cast<uint32_t>(current_->pageNumber),
                                     static_cast<uint64_t>(p - current_->data));
  }

  // Throws kInvalidPageState when a page, or one of `arrays` (null entries are skipped), was
  // freed while the operator still uses it.
  void checkLive(std::initializer_list<const MemoryBlock*> arrays = {}) const;

 private:
  const TaskPageTable& table_;
  const char* owner_;
  uint32_t headerBytes_;
  std::vector<std::shared_ptr<MemoryBlock>> pages_;
  MemoryBlock* current_ = nullptr;
  uint8_t* cursor_ = nullptr;
  uint8_t* end_ = nullptr;
};

}  // namespace tungsten
