#include "data_pages.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "errors.h"

namespace tungsten {

void DataPages::add(std::shared_ptr<MemoryBlock> page) {
  table_.checkOwnPage(*page);
  if (page->size <= headerBytes_) {
    throw Error(ErrorCode::kInvalidArgument, std::string("a page of the ") + owner_ + " must be larger than its " +
                                                 std::to_string(headerBytes_) + "-byte header");
  }
  std::memset(page->data, 0, headerBytes_);
  current_ = page.get();
  cursor_ = page->data + headerBytes_;
  end_ = page->data + page->size;
  pages_.push_back(std::move(page));
}

void DataPages::clear() {
  pages_.clear();
  current_ = nullptr;
  cursor_ = nullptr;
  end_ = nullptr;
}

void DataPages::checkLive(std::initializer_list<const MemoryBlock*> arrays) const {
  bool live = true;
  for (const auto& page : pages_) live &= page->pageNumber >= 0;
  for (const MemoryBlock* array : arrays) live &= array == nullptr || array->pageNumber >= 0;
  if (!live) {
    throw Error(ErrorCode::kInvalidPageState, std::string("memory of the ") + owner_ +
                                                  " was freed while it still used it; close the " + owner_ +
                                                  " before the task's memory is cleaned up");
  }
}

uint64_t DataPages::takeRecords(const RowLayout& layout, const BatchView& batch, uint64_t row, uint64_t limit,
                                uint8_t** records, uint64_t* blockedBy) {
  uint64_t count = 0;
  if (!layout.hasVarColumns()) {
    const uint64_t recordBytes = kRecordLengthBytes + layout.fixedPayloadBytes();
    count = std::min(limit, room() / recordBytes);
    uint8_t* first = take(count * recordBytes);
    for (uint64_t i = 0; i < count; ++i) records[i] = first + i * recordBytes;
    if (count == 0) *blockedBy = recordBytes;
    return count;
  }
  while (count < limit) {
    const uint64_t bytes = kRecordLengthBytes + layout.payloadBytes(batch, row + count);
    if (bytes > room()) {
      *blockedBy = bytes;
      break;
    }
    records[count++] = take(bytes);
  }
  return count;
}

}  // namespace tungsten
