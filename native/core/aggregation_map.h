// The open-addressing table of the hash aggregation (Spark's BytesToBytesMap, spark-semantics
// §3.10), over a slot array and pages that TypeScript grants.
//
// The slot array holds 16 bytes per slot, as Spark's LongArray holds two longs:
//
//   bits 127..64  hash: the key's full 32-bit hash (upper 32 bits zero)
//   bits  63..0   address: the entry's encoded page address (page_address.h); 0 = empty slot
//
// An entry's address is never 0 because every page starts with an 8-byte header (Spark's record
// count), so no entry sits at offset 0 of page 0.
//
// Capacity is a power of two from 64 to 2^29 slots (kMaxCapacity); keys may fill half of it
// (load factor 0.5, the most that lets the array be reused to sort the entries: the first half
// of a 2n-slot array holds n (prefix, address) pairs, the second half is the sort's scratch).
// Probing is quadratic with triangular steps, which visits every slot of a power-of-two table.
// Growing re-places entries by their stored hashes: no key is read or hashed again.
//
// This class knows slots, not keys: callers hash and compare keys themselves (find() takes
// the equality test), which lets the aggregation use a fast path for integer keys.
#pragma once

#include <cstdint>
#include <memory>

#include "memory_block.h"
#include "task_page_table.h"

namespace tungsten {

struct MapSlot {
  uint64_t address;
  uint64_t hash;
};
static_assert(sizeof(MapSlot) == 16, "a slot is Spark's two longs: address and hash");

class AggregationMap {
 public:
  static constexpr uint64_t kMinCapacity = 64;
  static constexpr uint64_t kMaxCapacity = uint64_t{1} << 29;
  static constexpr uint64_t kPageHeaderBytes = 8;

  explicit AggregationMap(const TaskPageTable& pages) : pages_(pages) {}

  // Adopts a slot array of capacity * 16 bytes (first, or larger): zeroes it and re-places the
  // current entries by their stored hashes. Throws kInvalidArgument when its capacity is not a
  // power of two in [64, 2^29] or cannot hold the keys at load factor 0.5. The previous array
  // is dropped; TypeScript frees it.
  void adoptArray(std::shared_ptr<MemoryBlock> array);
  // Forgets every key and gives up the array (for the caller to free or to sort in).
  std::shared_ptr<MemoryBlock> releaseArray();

  bool hasArray() const { return array_ != nullptr; }
  const MemoryBlock* array() const { return array_.get(); }
  uint64_t capacity() const { return capacity_; }
  uint64_t numKeys() const { return numKeys_; }
  // No new key may be added until the array grows (Spark's growth threshold).
  bool full() const { return numKeys_ >= capacity_ / 2; }
  MapSlot* slots() const { return slots_; }
  uint64_t homeSlot(uint32_t hash) const { return hash & mask_; }

  // The slot holding the key with this hash for which equal(entry) is true, or the empty slot
  // where it belongs. Counts every slot looked at (the probes metric).
  template <typename Equal>
  uint64_t find(uint32_t hash, Equal&& equal) {
    const MapSlot* slots = slots_;
    const uint64_t mask = mask_;
    uint64_t position = hash & mask;
    uint64_t step = 1;
    for (;;) {
      const MapSlot& slot = slots[position];
      if (slot.address == 0 || (slot.hash == hash && equal(pages_.pointerTo(slot.address)))) {
        ++lookups_;
        probes_ += step;
        return position;
      }
      position = (position + step++) & mask;
    }
  }
  void insertAt(uint64_t position, uint64_t address, uint32_t hash) {
    slots_[position] = MapSlot{address, hash};
    ++numKeys_;
  }

  uint64_t lookups() const { return lookups_; }
  uint64_t probes() const { return probes_; }

 private:
  const TaskPageTable& pages_;
  std::shared_ptr<MemoryBlock> array_;
  MapSlot* slots_ = nullptr;
  uint64_t capacity_ = 0;
  uint64_t mask_ = 0;
  uint64_t numKeys_ = 0;
  uint64_t lookups_ = 0;
  uint64_t probes_ = 0;
};

}  // namespace tungsten
