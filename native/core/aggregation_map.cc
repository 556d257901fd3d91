#include "aggregation_map.h"

#include <cstring>
#include <string>

#include "errors.h"

namespace tungsten {

void AggregationMap::adoptArray(std::shared_ptr<MemoryBlock> array) {
  const uint64_t capacity = array->size / sizeof(MapSlot);
  if (capacity < kMinCapacity || capacity > kMaxCapacity || (capacity & (capacity - 1)) != 0 ||
      array->size != capacity * sizeof(MapSlot)) {
    throw Error(ErrorCode::kInvalidArgument, "a slot array must hold a power of two of 64 to 2^29 16-byte slots, got " +
                                                 std::to_string(array->size) + " bytes");
  }
  if (numKeys_ > capacity / 2) {
    throw Error(ErrorCode::kInvalidArgument, "a slot array of " + std::to_string(capacity) + " slots cannot hold " +
                                                 std::to_string(numKeys_) + " keys at load factor 0.5");
  }
  MapSlot* to = reinterpret_cast<MapSlot*>(array->data);
  std::memset(to, 0, array->size);
  const uint64_t mask = capacity - 1;
  for (uint64_t i = 0; array_ && i < capacity_; ++i) {
    const MapSlot slot = slots_[i];
    if (slot.address == 0) continue;
    uint64_t position = slot.hash & mask;
    uint64_t step = 1;
    while (to[position].address != 0) position = (position + step++) & mask;
    to[position] = slot;
  }
  array_ = std::move(array);
  slots_ = to;
  capacity_ = capacity;
  mask_ = mask;
}

std::shared_ptr<MemoryBlock> AggregationMap::releaseArray() {
  slots_ = nullptr;
  capacity_ = 0;
  mask_ = 0;
  numKeys_ = 0;
  return std::move(array_);
}

}  // namespace tungsten
