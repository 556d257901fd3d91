#include "hash_aggregator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "errors.h"
#include "hash.h"
#include "unaligned.h"

namespace tungsten {

namespace {

std::vector<SortKey> allKeysAscending(uint32_t numKeys) {
  std::vector<SortKey> keys;
  for (uint32_t c = 0; c < numKeys; ++c) keys.push_back({c, false, true});
  return keys;
}

// A 1 GiB cap on the bytes of one output batch keeps 4-byte offsets of a var-width column
// below 2 GiB.
constexpr size_t kMaxStagedBytes = size_t{1} << 30;

}  // namespace

struct HashAggregator::Chunk {
  static constexpr uint64_t kRows = 1024;
  uint8_t* buffers[kRows];
  uint64_t slots[kRows];
  uint32_t hashes[kRows];
  uint32_t lookupRows[kRows];  // findIntKeys: the rows the dense index did not resolve
  uint8_t* candidates[kRows];
  uint64_t needPageBytes = 0;
  bool needArray = false;
};

HashAggregator::HashAggregator(AggregatorOptions options, std::shared_ptr<TaskPageTable> pages)
    : options_(std::move(options)),
      keyLayout_(options_.keyColumns),
      comparator_(keyLayout_, allKeysAscending(keyLayout_.numColumns())),
      ops_(options_.aggregates, options_.mode, keyLayout_.numColumns()),
      pages_(std::move(pages)),
      map_(*pages_),
      inMemory_(comparator_, *pages_),
      chunk_(std::make_unique<Chunk>()),
      dataPages_(*pages_, "aggregation", AggregationMap::kPageHeaderBytes) {
  fixedKeyBytes_ = keyLayout_.fixedPayloadBytes();
  if (keyLayout_.hasVarColumns()) lastVarKeySlot_ = keyLayout_.slotOffset(keyLayout_.varColumns().back());
  for (uint32_t c = 0; c < keyLayout_.numColumns(); ++c) {
    const ColumnType& type = keyLayout_.columns()[c];
    if (type.physical == PhysicalType::kFloat) {
      floatKeySlots_.push_back(keyLayout_.slotOffset(c));
      floatKeyWidths_.push_back(type.width);
    }
  }
  if (keyLayout_.numColumns() == 1) {
    const ColumnType& key = keyLayout_.columns()[0];
    if (key.physical == PhysicalType::kInt || key.physical == PhysicalType::kUInt) {
      intKeyKind_ = static_cast<int>(key.width) * (key.physical == PhysicalType::kInt ? 1 : -1);
      // A var-width buffer may move its entry (applyVarRow), which the index would not see.
      if (!ops_.hasVarColumns()) denseIndex_ = std::make_unique<uint8_t*[]>(kDenseKeys);
    }
  }
  uint32_t expected = keyLayout_.numColumns();
  if (options_.mode == AggregationMode::kFinal) {
    expected += static_cast<uint32_t>(ops_.columns().size());
  } else {
    for (const AggregateSpec& spec : options_.aggregates) {
      if (spec.function != AggregateFunction::kCountStar) expected = std::max(expected, spec.inputColumn + 1);
    }
  }
  if (options_.inputColumns < expected) {
    throw Error(ErrorCode::kInvalidArgument, "the aggregation reads " + std::to_string(expected) +
                                                 " input columns, but batches have " +
                                                 std::to_string(options_.inputColumns));
  }
  varValues_.resize(ops_.numVarColumns());
}

HashAggregator::~HashAggregator() = default;

AggregatorMetrics HashAggregator::metrics() const {
  AggregatorMetrics m = metrics_;
  m.keyLookups = map_.lookups();
  m.hashProbes = map_.probes();
  return m;
}

void HashAggregator::verifyPagesLive() const { dataPages_.checkLive({map_.array(), inMemory_.array()}); }

uint32_t HashAggregator::keyBytes(const uint8_t* entry) const {
  if (lastVarKeySlot_ < 0) return fixedKeyBytes_;
  const uint8_t* payload = entry + kRecordLengthBytes;
  return loadUnaligned<uint32_t>(payload + lastVarKeySlot_) + loadUnaligned<uint32_t>(payload + lastVarKeySlot_ + 4);
}

void HashAggregator::normalizeFloatKeys(uint8_t* keyPayload) const {
  for (size_t f = 0; f < floatKeySlots_.size(); ++f) {
    uint8_t* slot = keyPayload + floatKeySlots_[f];
    if (floatKeyWidths_[f] == 4) {
      float value = loadUnaligned<float>(slot);
      if (value == 0.0f) value = 0.0f;  // -0 joins +0's group
      if (std::isnan(value)) value = std::numeric_limits<float>::quiet_NaN();
      storeUnaligned<float>(slot, value);
    } else {
      double value = loadUnaligned<double>(slot);
      if (value == 0.0) value = 0.0;
      if (std::isnan(value)) value = std::numeric_limits<double>::quiet_NaN();
      storeUnaligned<double>(slot, value);
    }
  }
}

uint8_t* HashAggregator::addEntry(uint32_t keyPayloadBytes, uint64_t slot, uint32_t hash) {
  uint8_t* entry = dataPages_.take(kRecordLengthBytes + keyPayloadBytes + ops_.fixedBytes());
  storeUnaligned<uint32_t>(entry, keyPayloadBytes + ops_.fixedBytes());
  uint8_t* buffer = entry + kRecordLengthBytes + keyPayloadBytes;
  ops_.initialize(buffer);
  map_.insertAt(slot, dataPages_.addressOf(entry), hash);
  uint8_t* header = dataPages_.current().data;  // the page's entry count (Spark's record count)
  storeUnaligned<uint64_t>(header, loadUnaligned<uint64_t>(header) + 1);
  return buffer;
}

void HashAggregator::clearDenseIndex() {
  if (denseIndex_) std::fill(denseIndex_.get(), denseIndex_.get() + kDenseKeys, nullptr);
}

// Centres the window on the median of the chunk's keys: a range of keys as dense as the
// window is covered whatever its outliers (a window from the smallest key was placed among the
// outliers, and the trial dropped the index).
template <typename T>
void HashAggregator::placeDenseWindow(const ColumnView& column, const uint8_t* values, uint64_t row, uint64_t count) {
  T keys[Chunk::kRows];
  uint64_t n = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (!column.isNull(row + i)) keys[n++] = loadUnaligned<T>(values + i * sizeof(T));
  }
  if (n == 0) return;  // only nulls so far: place it at the next chunk
  std::nth_element(keys, keys + n / 2, keys + n);
  denseBase_ = static_cast<uint64_t>(keys[n / 2]) - kDenseKeys / 2;
  denseWindowPlaced_ = true;
}

// The fast path for one integer key: keys in the dense index's window are resolved there;
// for the others the hash comes from the value, and a candidate entry's key is one null byte
// and sizeof(T) value bytes, compared as an integer.
template <typename T>
uint64_t HashAggregator::findIntKeys(const BatchView& batch, uint64_t row, uint64_t count, Chunk& chunk) {
  const ColumnView& column = batch.columns[0];
  const uint8_t* values = column.values + row * sizeof(T);
  const uint32_t keyPayloadBytes = fixedKeyBytes_;
  const uint64_t entryBytes = kRecordLengthBytes + keyPayloadBytes + ops_.fixedBytes();
  const MapSlot* slots = map_.slots();
  uint32_t* lookupRows = chunk.lookupRows;
  uint64_t lookups = 0;
  uint8_t** dense = denseIndex_.get();
  if (dense != nullptr && !denseWindowPlaced_) placeDenseWindow<T>(column, values, row, count);
  if (dense != nullptr && denseWindowPlaced_) {
    uint64_t nonNull = 0;
    uint64_t inWindow = 0;
    for (uint64_t i = 0; i < count; ++i) {
      if (column.isNull(row + i)) {
        lookupRows[lookups++] = static_cast<uint32_t>(i);
        continue;
      }
      const uint64_t d = static_cast<uint64_t>(loadUnaligned<T>(values + i * sizeof(T))) - denseBase_;
      const bool isInWindow = d < kDenseKeys;
      ++nonNull;
      inWindow += isInWindow;
      uint8_t* buffer = isInWindow ? dense[d] : nullptr;
      chunk.buffers[i] = buffer;
      if (buffer == nullptr) lookupRows[lookups++] = static_cast<uint32_t>(i);
    }
    if (denseTrialRows_ < kDenseTrialRows) {
      denseTrialRows_ += nonNull;
      denseTrialHits_ += inWindow;
      if (denseTrialRows_ >= kDenseTrialRows && denseTrialHits_ * 2 < denseTrialRows_) {
        denseIndex_.reset();
        dense = nullptr;
      }
    }
  } else {
    for (uint64_t i = 0; i < count; ++i) lookupRows[i] = static_cast<uint32_t>(i);
    lookups = count;
  }
  // Hash the rows to look up first; then a two-stage pipeline hides the two cache misses of a
  // lookup in a large map: a row's home slot is fetched kSlotAhead rows before it is looked up,
  // and the entry behind it kEntryAhead rows before. (Fetching all the chunk's slots at once,
  // as this did, asked for a thousand lines at a time; most such prefetches were dropped, and
  // with 4 M groups the lookup stalled on the slot load for 45% of its time.)
  for (uint64_t k = 0; k < lookups; ++k) {
    const uint64_t i = lookupRows[k];
    const bool isNull = column.isNull(row + i);
    const T value = isNull ? T(0) : loadUnaligned<T>(values + i * sizeof(T));
    chunk.hashes[k] = hashInteger(static_cast<uint64_t>(value), isNull);
  }
  constexpr uint64_t kSlotAhead = 16;
  constexpr uint64_t kEntryAhead = 8;
  for (uint64_t k = 0; k < std::min(lookups, kSlotAhead); ++k) __builtin_prefetch(&slots[map_.homeSlot(chunk.hashes[k])]);
  for (uint64_t k = 0; k < lookups; ++k) {
    if (k + kSlotAhead < lookups) __builtin_prefetch(&slots[map_.homeSlot(chunk.hashes[k + kSlotAhead])]);
    if (k + kEntryAhead < lookups) {
      const MapSlot& ahead = slots[map_.homeSlot(chunk.hashes[k + kEntryAhead])];
      if (ahead.address != 0) __builtin_prefetch(pages_->pointerTo(ahead.address));
    }
    const uint64_t i = lookupRows[k];
    const bool isNull = column.isNull(row + i);
    const uint8_t nullByte = isNull ? 1 : 0;
    const T value = isNull ? T(0) : loadUnaligned<T>(values + i * sizeof(T));
    const uint64_t slot = map_.find(chunk.hashes[k], [&](const uint8_t* entry) {
      return entry[kRecordLengthBytes] == nullByte && loadUnaligned<T>(entry + kRecordLengthBytes + 1) == value;
    });
    const uint64_t address = map_.slots()[slot].address;
    if (address != 0) {
      chunk.buffers[i] = pages_->pointerTo(address) + kRecordLengthBytes + keyPayloadBytes;
    } else {
      // Rows before i are resolved (the index's hits and the lookups before this one).
      if (map_.full()) {
        chunk.needArray = true;
        return i;
      }
      if (dataPages_.room() < entryBytes) {
        chunk.needPageBytes = entryBytes + AggregationMap::kPageHeaderBytes;
        return i;
      }
      uint8_t* entry = dataPages_.cursor();
      entry[kRecordLengthBytes] = nullByte;
      storeUnaligned<T>(entry + kRecordLengthBytes + 1, value);
      chunk.buffers[i] = addEntry(keyPayloadBytes, slot, chunk.hashes[k]);
    }
    chunk.slots[i] = slot;
    if (dense != nullptr && !isNull) {
      const uint64_t d = static_cast<uint64_t>(value) - denseBase_;
      if (d < kDenseKeys) dense[d] = chunk.buffers[i];
    }
  }
  return count;
}

// Any keys: each row's key payload is written as a candidate entry after the page cursor (as
// many rows as fit), hashed and compared as bytes; a new key's candidate moves down to the
// cursor, the others are left behind to be overwritten.
uint64_t HashAggregator::findRowKeys(const BatchView& batch, uint64_t row, uint64_t count, Chunk& chunk) {
  uint64_t fit = 0;
  uint8_t* at = dataPages_.cursor();
  uint64_t room = dataPages_.room();
  uint64_t entryBytes = 0;
  while (fit < count) {
    const uint64_t keyPayloadBytes =
        keyLayout_.hasVarColumns() ? keyLayout_.payloadBytes(batch, row + fit) : fixedKeyBytes_;
    entryBytes = kRecordLengthBytes + keyPayloadBytes + ops_.fixedBytes();
    if (entryBytes > UINT32_MAX) {
      throw Error(ErrorCode::kRecordTooLarge, "a group's key and buffers need " + std::to_string(entryBytes) +
                                                  " bytes; a group may hold at most 4 GiB - 1 bytes");
    }
    if (room < entryBytes) break;
    chunk.candidates[fit++] = at;
    at += entryBytes;
    room -= entryBytes;
  }
  if (fit == 0) {
    chunk.needPageBytes = entryBytes + AggregationMap::kPageHeaderBytes;
    return 0;
  }
  keyLayout_.writeRows(batch, row, fit, chunk.candidates);
  for (uint64_t i = 0; i < fit; ++i) {
    uint8_t* candidate = chunk.candidates[i];
    if (!floatKeySlots_.empty()) normalizeFloatKeys(candidate + kRecordLengthBytes);
    chunk.hashes[i] = hashBytes(candidate + kRecordLengthBytes, loadUnaligned<uint32_t>(candidate));
  }
  for (uint64_t i = 0; i < fit; ++i) {
    uint8_t* candidate = chunk.candidates[i];
    const uint32_t keyPayloadBytes = loadUnaligned<uint32_t>(candidate);
    const uint64_t slot = map_.find(chunk.hashes[i], [&](const uint8_t* entry) {
      return keyBytes(entry) == keyPayloadBytes &&
             std::memcmp(entry + kRecordLengthBytes, candidate + kRecordLengthBytes, keyPayloadBytes) == 0;
    });
    const uint64_t address = map_.slots()[slot].address;
    if (address != 0) {
      const uint8_t* entry = pages_->pointerTo(address);
      chunk.buffers[i] = pages_->pointerTo(address) + kRecordLengthBytes + keyBytes(entry);
    } else {
      if (map_.full()) {
        chunk.needArray = true;
        return i;
      }
      // The cursor never passes a candidate not yet looked up: it moves by whole entries, each
      // no larger than the candidate it came from.
      uint8_t* entry = dataPages_.cursor();
      if (candidate != entry) std::memmove(entry, candidate, kRecordLengthBytes + keyPayloadBytes);
      chunk.buffers[i] = addEntry(keyPayloadBytes, slot, chunk.hashes[i]);
    }
    chunk.slots[i] = slot;
  }
  return fit;
}

namespace {

// Calls visit(T{}) with T the C type of a single integer key of kind `intKeyKind` (width,
// negative for unsigned), or otherwise(); the one place the kinds are listed.
template <typename Visit, typename Otherwise>
auto withIntKeyType(int intKeyKind, Visit&& visit, Otherwise&& otherwise) {
  switch (intKeyKind) {
    case 1: return visit(int8_t{});
    case 2: return visit(int16_t{});
    case 4: return visit(int32_t{});
    case 8: return visit(int64_t{});
    case -1: return visit(uint8_t{});
    case -2: return visit(uint16_t{});
    case -4: return visit(uint32_t{});
    case -8: return visit(uint64_t{});
    default: return otherwise();
  }
}

}  // namespace

uint64_t HashAggregator::findKeys(const BatchView& batch, uint64_t row, uint64_t count, Chunk& chunk) {
  return withIntKeyType(
      intKeyKind_, [&]<typename T>(T) { return findIntKeys<T>(batch, row, count, chunk); },
      [&] { return findRowKeys(batch, row, count, chunk); });
}

// Var-width buffers (min or max of strings) of the chunk's single row: written in place when
// the new values fit where the old ones were, else the entry moves to the page cursor with
// room for them. Returns false, changing nothing, when that needs a page.
bool HashAggregator::applyVarRow(const BatchView& batch, uint64_t row, Chunk& chunk) {
  MapSlot& slot = map_.slots()[chunk.slots[0]];
  uint8_t* entry = pages_->pointerTo(slot.address);
  const uint32_t keyPayloadBytes = keyBytes(entry);
  uint8_t* payload = entry + kRecordLengthBytes + keyPayloadBytes;
  const uint8_t* end = entry + kRecordLengthBytes + loadUnaligned<uint32_t>(entry);
  BufferOps::VarValue* values = varValues_.data();
  if (!ops_.varValuesAfterRow(batch, row, payload, values)) return true;
  if (ops_.fitsInPlace(payload, end, values)) {
    ops_.writeVarInPlace(payload, values);
    return true;
  }
  const uint64_t bytes = kRecordLengthBytes + keyPayloadBytes + ops_.payloadBytesWith(values);
  if (bytes > UINT32_MAX) {
    throw Error(ErrorCode::kRecordTooLarge,
                "a group's buffers need " + std::to_string(bytes) + " bytes; a group may hold at most 4 GiB - 1 bytes");
  }
  if (dataPages_.room() < bytes) {
    chunk.needPageBytes = bytes + AggregationMap::kPageHeaderBytes;
    return false;
  }
  uint8_t* moved = dataPages_.cursor();
  std::memcpy(moved + kRecordLengthBytes, entry + kRecordLengthBytes, keyPayloadBytes);
  const uint64_t bufferBytes = ops_.writeWith(moved + kRecordLengthBytes + keyPayloadBytes, payload, values);
  storeUnaligned<uint32_t>(moved, static_cast<uint32_t>(keyPayloadBytes + bufferBytes));
  slot.address = dataPages_.addressOf(moved);
  dataPages_.take(bytes);
  chunk.buffers[0] = moved + kRecordLengthBytes + keyPayloadBytes;
  return true;
}

HashAggregator::InsertResult HashAggregator::insert(const BatchView& batch, uint64_t row) {
  if (output_) throw Error(ErrorCode::kInvalidArgument, "insert after the output has begun");
  if (batch.columns.size() != options_.inputColumns) {
    throw Error(ErrorCode::kInvalidArgument, "the batch has " + std::to_string(batch.columns.size()) +
                                                 " columns, the aggregation " + std::to_string(options_.inputColumns));
  }
  verifyPagesLive();
  Chunk& chunk = *chunk_;
  // With var-width buffers a row may need a page halfway; one row at a time keeps it simple to
  // stop before that row changes anything.
  const uint64_t chunkRows = ops_.hasVarColumns() ? 1 : Chunk::kRows;
  while (row < batch.numRows) {
    if (!map_.hasArray()) return {row, 0, true};
    chunk.needPageBytes = 0;
    chunk.needArray = false;
    const uint64_t found = findKeys(batch, row, std::min(chunkRows, batch.numRows - row), chunk);
    if (found > 0 && ops_.hasVarColumns() && !applyVarRow(batch, row, chunk)) return {row, chunk.needPageBytes, false};
    ops_.applyFixed(batch, row, found, chunk.buffers);
    row += found;
    metrics_.rowsIn += found;
    if (chunk.needArray || chunk.needPageBytes > 0) return {row, chunk.needPageBytes, chunk.needArray};
  }
  return {row, 0, false};
}

InMemorySorter::Sorted HashAggregator::sortInMemory() {
  clearDenseIndex();
  // The slot array becomes the sorter's pointer array: (prefix, address) pairs are as large as
  // slots, so the occupied slots compact to the front in place, and at load factor 0.5 the back
  // half is free for the sort's scratch.
  const uint64_t capacity = map_.capacity();
  MapSlot* slots = map_.slots();
  SortEntry* entries = reinterpret_cast<SortEntry*>(slots);
  uint64_t count = 0;
  for (uint64_t i = 0; i < capacity; ++i) {
    const uint64_t address = slots[i].address;
    if (address != 0) entries[count++] = SortEntry{0, address};
  }
  const bool hasKeys = keyLayout_.numColumns() > 0;
  constexpr uint64_t kPrefetchDistance = 16;
  uint64_t nonNull = count;
  for (uint64_t i = 0; i < nonNull;) {
    if (i + kPrefetchDistance < nonNull) __builtin_prefetch(pages_->pointerTo(entries[i + kPrefetchDistance].address));
    const uint8_t* keyPayload = pages_->pointerTo(entries[i].address) + kRecordLengthBytes;
    if (hasKeys && RowLayout::isNull(keyPayload, 0)) {
      std::swap(entries[i], entries[--nonNull]);  // first key null: to the back, looked at no more
      continue;
    }
    entries[i].prefix = hasKeys ? comparator_.prefixOfPayload(keyPayload) : 0;
    ++i;
  }
  const uint64_t nulls = count - nonNull;
  sawNullFirstKey_ |= nulls > 0;
  std::shared_ptr<MemoryBlock> array = map_.releaseArray();
  const uint64_t usable = capacity / 2;
  std::memmove(entries + usable - nulls, entries + nonNull, nulls * sizeof(SortEntry));
  inMemory_.adoptFilled(std::move(array), nonNull, nulls);
  const auto start = std::chrono::steady_clock::now();
  InMemorySorter::Sorted sorted = inMemory_.sort();
  metrics_.sortTimeNs += nanosSince(start);
  return sorted;
}

void HashAggregator::dropMemory() {
  clearDenseIndex();
  sortedPending_ = false;
  inMemory_.releaseArray();
  map_.releaseArray();
  dataPages_.clear();
}

SpillRunInfo HashAggregator::spill(const std::string& path) {
  SpillRunInfo run;
  const auto start = std::chrono::steady_clock::now();
  if (output_) {
    if (!output_->readsMemory()) return run;
    run = output_->spillMemory(path, options_.codec, options_.spillBlockBytes);
    dropMemory();
  } else {
    if (map_.numKeys() == 0 && !sortedPending_) {
      // Nothing to write, but an empty map may still hold a slot array and pages (a grant that
      // made this very map spill lands in it empty): give them up too.
      dropMemory();
      return run;
    }
    verifyPagesLive();
    // Sorting turns the slot array into the sorted entries; should the write fail, they stay
    // sorted (sortedPending_) and nothing is lost: the output reads them, a later spill writes
    // them, and the next slot array gets them back (adoptSlotArray).
    InMemorySorter::Sorted sorted = sortedPending_ ? inMemory_.sort() : sortInMemory();
    sortedPending_ = true;
    SpillWriter writer(path, options_.codec, options_.spillBlockBytes);
    writeSortedRun(sorted, *pages_, writer);
    run = writer.finish();
    dropMemory();
  }
  metrics_.spillWriteTimeNs += nanosSince(start);
  // A spill that found nothing left to write (output already read past memory) only let go
  // of the pages: not a spill.
  if (run.records > 0) metrics_.spillCount += 1;
  metrics_.diskBytesSpilled += run.fileBytes;
  return run;
}

uint32_t HashAggregator::hashOfEntry(const uint8_t* entry) const {
  const uint8_t* key = entry + kRecordLengthBytes;
  return withIntKeyType(
      intKeyKind_,
      [&]<typename T>(T) { return hashInteger(static_cast<uint64_t>(loadUnaligned<T>(key + 1)), key[0] != 0); },
      [&] { return hashBytes(key, keyBytes(entry)); });
}

void HashAggregator::checkSlotArray(const MemoryBlock& array) const { pages_->checkOwnPage(array); }

void HashAggregator::adoptSlotArray(std::shared_ptr<MemoryBlock> array) {
  checkSlotArray(*array);
  map_.adoptArray(std::move(array));
  clearDenseIndex();
  if (!sortedPending_) return;
  // After a failed spill: the groups sit sorted in the old array; hash them into the new one
  // (their keys are hashed again: the sort overwrote the stored hashes).
  const InMemorySorter::Sorted sorted = inMemory_.sort();
  if (map_.capacity() / 2 < sorted.lengths[0] + sorted.lengths[1]) {
    throw Error(ErrorCode::kInvalidArgument, "the slot array cannot hold the groups at load factor 0.5");
  }
  for (int span = 0; span < 2; ++span) {
    for (uint64_t i = 0; i < sorted.lengths[span]; ++i) {
      const uint64_t address = sorted.spans[span][i].address;
      const uint32_t hash = hashOfEntry(pages_->pointerTo(address));
      const uint64_t slot = map_.find(hash, [](const uint8_t*) { return false; });  // keys are distinct
      map_.insertAt(slot, address, hash);
    }
  }
  inMemory_.releaseArray();
  sortedPending_ = false;
}

void HashAggregator::beginOutput(const std::vector<SpillRunInfo>& runs) {
  if (output_) throw Error(ErrorCode::kInvalidArgument, "output has already begun");
  verifyPagesLive();
  InMemorySorter::Sorted sorted{{nullptr, nullptr}, {0, 0}};
  if (sortedPending_) {
    sorted = inMemory_.sort();
  } else if (map_.numKeys() > 0) {
    sorted = sortInMemory();
  }
  comparator_.setFirstKeyMayBeNull(sawNullFirstKey_);
  output_ = std::make_unique<RunMerge>(runs, sorted, *pages_, comparator_, true);
}

void HashAggregator::ensureStaging(size_t bytes) {
  if (bytes > staging_.size()) staging_.resize(std::max(staging_.size() * 2, bytes + (size_t{1} << 20)));
}

template <typename Source>
bool HashAggregator::stageNextGroup(Source& source, uint64_t* prefix) {
  RecordRef record;
  if (!source.next(record)) return false;
  const size_t at = staged_;
  const size_t bytes = kRecordLengthBytes + RowLayout::payloadLength(record.record);
  ensureStaging(at + bytes);
  std::memcpy(staging_.data() + at, record.record, bytes);
  staged_ = at + bytes;
  *prefix = record.prefix;
  while (source.next(record)) {
    if (comparator_.compareRecords(*prefix, staging_.data() + at, record.prefix, record.record) != 0) {
      source.pushBack();  // the first record of the next group
      break;
    }
    combineIntoStaged(at, record.record);
  }
  return true;
}

void HashAggregator::combineIntoStaged(size_t at, const uint8_t* other) {
  uint8_t* entry = staging_.data() + at;
  const uint32_t keyPayloadBytes = keyBytes(entry);
  uint8_t* payload = entry + kRecordLengthBytes + keyPayloadBytes;
  const uint8_t* otherPayload = other + kRecordLengthBytes + keyBytes(other);
  ops_.combineFixed(payload, otherPayload);
  if (!ops_.hasVarColumns()) return;
  BufferOps::VarValue* values = varValues_.data();
  if (!ops_.varValuesAfterCombine(payload, otherPayload, values)) return;
  if (ops_.fitsInPlace(payload, entry + kRecordLengthBytes + loadUnaligned<uint32_t>(entry), values)) {
    ops_.writeVarInPlace(payload, values);
    return;
  }
  // The staged group is the last thing staged, so it can grow in place once its new buffer is
  // built aside (the values point into it).
  std::vector<uint8_t> buffer(ops_.payloadBytesWith(values));
  ops_.writeWith(buffer.data(), payload, values);
  const size_t bufferAt = at + kRecordLengthBytes + keyPayloadBytes;
  ensureStaging(bufferAt + buffer.size());
  std::memcpy(staging_.data() + bufferAt, buffer.data(), buffer.size());
  storeUnaligned<uint32_t>(staging_.data() + at, static_cast<uint32_t>(keyPayloadBytes + buffer.size()));
  staged_ = bufferAt + buffer.size();
}

OutputBatch HashAggregator::nextBatch(uint64_t maxGroups) {
  if (!output_) throw Error(ErrorCode::kInvalidArgument, "nextBatch before beginOutput");
  if (output_->readsMemory()) verifyPagesLive();
  staged_ = 0;
  std::vector<size_t> groups;
  uint64_t prefix;
  while (groups.size() < maxGroups && staged_ < kMaxStagedBytes) {
    const size_t at = staged_;
    if (!stageNextGroup(*output_, &prefix)) break;
    groups.push_back(at);
  }
  output_->settle();
  if (keyLayout_.numColumns() == 0 && !emittedGlobalGroup_ && groups.empty()) {
    // A global aggregation of no rows is still one row: count 0, everything else null.
    ensureStaging(kRecordLengthBytes + ops_.fixedBytes());
    storeUnaligned<uint32_t>(staging_.data(), ops_.fixedBytes());
    ops_.initialize(staging_.data() + kRecordLengthBytes);
    groups.push_back(0);
  }
  emittedGlobalGroup_ = true;
  metrics_.groupsOut += groups.size();
  return buildBatch(groups);
}

OutputBatch HashAggregator::buildBatch(const std::vector<size_t>& groups) {
  const uint64_t n = groups.size();
  OutputBatch batch;
  batch.numRows = n;
  if (n == 0) return batch;
  std::vector<const uint8_t*> keyPayloads(n);
  std::vector<const uint8_t*> bufferPayloads(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* entry = staging_.data() + groups[i];
    keyPayloads[i] = entry + kRecordLengthBytes;
    bufferPayloads[i] = keyPayloads[i] + keyBytes(entry);
  }
  batch.columns = buildOutputColumns(keyLayout_, keyPayloads.data(), n);
  std::vector<OutputColumn> buffers = buildOutputColumns(ops_.layout(), bufferPayloads.data(), n);
  const std::vector<BufferColumn>& columns = ops_.columns();
  for (size_t b = 0; b < buffers.size(); ++b) {
    const bool average = options_.aggregates[columns[b].aggregate].function == AggregateFunction::kAvg;
    if (!average || options_.mode == AggregationMode::kPartial) {
      batch.columns.push_back(std::move(buffers[b]));
      continue;
    }
    // avg = sum / count, null where nothing was counted.
    const OutputColumn& sums = buffers[b];
    const OutputColumn& counts = buffers[++b];
    OutputColumn average_;
    average_.values = allocateOutputBuffer(n * 8, false);
    average_.validity = allocateOutputBuffer((n + 7) / 8, true);
    for (uint64_t i = 0; i < n; ++i) {
      const int64_t count = loadUnaligned<int64_t>(counts.values.data.get() + i * 8);
      const double sum = loadUnaligned<double>(sums.values.data.get() + i * 8);
      storeUnaligned<double>(average_.values.data.get() + i * 8, count == 0 ? 0.0 : sum / static_cast<double>(count));
      if (count == 0) {
        ++average_.nullCount;
      } else {
        average_.validity.data.get()[i >> 3] |= uint8_t(1u << (i & 7));
      }
    }
    if (average_.nullCount == 0) average_.validity = OutputBuffer{};
    batch.columns.push_back(std::move(average_));
  }
  return batch;
}

SpillRunInfo HashAggregator::mergeRuns(const std::vector<SpillRunInfo>& runs, const std::string& path) {
  comparator_.setFirstKeyMayBeNull(sawNullFirstKey_);
  const auto start = std::chrono::steady_clock::now();
  SpillRunInfo merged = mergeRunsToFile(runs, comparator_, path, options_.codec, options_.spillBlockBytes,
                                        [this](Merger& merger, SpillWriter& writer) {
                                          uint64_t prefix;
                                          for (staged_ = 0; stageNextGroup(merger, &prefix); staged_ = 0) {
                                            writer.write(prefix, staging_.data());
                                          }
                                        });
  metrics_.spillWriteTimeNs += nanosSince(start);
  metrics_.mergePasses += 1;
  metrics_.diskBytesSpilled += merged.fileBytes;
  return merged;
}

}  // namespace tungsten
