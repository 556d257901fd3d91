#include "aggregate_functions.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <type_traits>
#include <utility>

#include "errors.h"
#include "unaligned.h"
#include "sort_key.h"

namespace tungsten {

namespace {

constexpr ColumnType kInt64{PhysicalType::kInt, 8};
constexpr ColumnType kFloat64{PhysicalType::kFloat, 8};

bool isNumber(const ColumnType& type) {
  return type.physical == PhysicalType::kInt || type.physical == PhysicalType::kUInt ||
         type.physical == PhysicalType::kFloat;
}

void clearNull(uint8_t* payload, uint32_t column) { payload[column >> 3] &= uint8_t(~(1u << (column & 7))); }

[[noreturn]] void overflow(const std::string& name) {
  throw Error(ErrorCode::kArithmeticOverflow,
              name + " overflowed the int64 range; sum the column as float64 (cast it) to get an approximate sum");
}

// Where one kernel call writes: the buffers of a chunk of rows, one buffer column.
struct Target {
  uint8_t* const* payloads;
  uint64_t count;
  uint32_t slot;
  uint32_t column;
};

void countRows(const Target& t) {
  uint8_t* const* payloads = t.payloads;
  const uint32_t slot = t.slot;
  for (uint64_t i = 0, n = t.count; i < n; ++i) {
    uint8_t* at = payloads[i] + slot;
    storeUnaligned<int64_t>(at, loadUnaligned<int64_t>(at) + 1);
  }
}

void countValid(const Target& t, const ColumnView& input, uint64_t firstRow) {
  if (input.validity == nullptr) return countRows(t);
  for (uint64_t i = 0; i < t.count; ++i) {
    uint8_t* at = t.payloads[i] + t.slot;
    storeUnaligned<int64_t>(at, loadUnaligned<int64_t>(at) + (input.isNull(firstRow + i) ? 0 : 1));
  }
}

// Calls update(payload, value) for each non-null input row of the chunk, with the row's value
// as T. Fields are copied into locals first: every store goes through a byte pointer, which may
// alias anything, so fields read in the loop would be read again after each store. The update
// is a lambda taking what it needs by value, for the same reason; it is inlined.
template <typename T, typename Update>
inline void forEachValue(const Target& t, const ColumnView& input, uint64_t firstRow, Update&& update) {
  const uint8_t* values = input.values + firstRow * sizeof(T);
  uint8_t* const* payloads = t.payloads;
  const uint64_t count = t.count;
  const bool mayBeNull = input.validity != nullptr;
  for (uint64_t i = 0; i < count; ++i) {
    if (mayBeNull && input.isNull(firstRow + i)) continue;
    update(payloads[i], loadUnaligned<T>(values + i * sizeof(T)));
  }
}

// final mode: adds partial counts (int64, never null in practice, but null-safe).
void addCount(const Target& t, const ColumnView& input, uint64_t firstRow) {
  forEachValue<int64_t>(t, input, firstRow, [slot = t.slot](uint8_t* payload, int64_t partial) {
    storeUnaligned<int64_t>(payload + slot, loadUnaligned<int64_t>(payload + slot) + partial);
  });
}

// The per-type kernels. `T` is the input's C type.
template <typename T>
struct SumInt {
  static void run(const Target& t, const ColumnView& input, uint64_t firstRow, const std::string& name) {
    // Floats never get here (their sums are kSumFloat); the guard only keeps the template whole.
    if constexpr (std::is_integral_v<T>) {
      forEachValue<T>(t, input, firstRow, [slot = t.slot, column = t.column, &name](uint8_t* payload, T value) {
        int64_t sum;
        if (__builtin_add_overflow(loadUnaligned<int64_t>(payload + slot), value, &sum)) overflow(name);
        storeUnaligned<int64_t>(payload + slot, sum);
        clearNull(payload, column);
      });
    }
  }
};

template <typename T>
struct SumFloat {
  static void run(const Target& t, const ColumnView& input, uint64_t firstRow, const std::string&) {
    forEachValue<T>(t, input, firstRow, [slot = t.slot, column = t.column](uint8_t* payload, T value) {
      storeUnaligned<double>(payload + slot, loadUnaligned<double>(payload + slot) + static_cast<double>(value));
      clearNull(payload, column);
    });
  }
};

// Orders values as the sort does: integers by value, floats in total order (-0 before +0, NaN
// after +inf). For floats, a plain comparison decides whenever it can: numerically less or
// greater means the same in total order (a NaN compares neither), and only equal values (±0)
// and NaNs pay for the normalisation. Once a group's min or max has settled, nearly every value
// is strictly on one side; normalising both sides of every comparison was half of A1's min/max.
template <typename T>
struct SortOrder {
  static bool less(T a, T b) { return a < b; }
};
template <>
struct SortOrder<float> {
  static bool less(float a, float b) {
    if (a < b) return true;
    if (a > b) return false;
    return normalizeFloat(a) < normalizeFloat(b);
  }
};
template <>
struct SortOrder<double> {
  static bool less(double a, double b) {
    if (a < b) return true;
    if (a > b) return false;
    return normalizeDouble(a) < normalizeDouble(b);
  }
};

template <typename T, bool IsMax>
struct MinMax {
  static void run(const Target& t, const ColumnView& input, uint64_t firstRow, const std::string&) {
    forEachValue<T>(t, input, firstRow, [slot = t.slot, column = t.column](uint8_t* payload, T value) {
      const T current = loadUnaligned<T>(payload + slot);
      if (RowLayout::isNull(payload, column) ||
          (IsMax ? SortOrder<T>::less(current, value) : SortOrder<T>::less(value, current))) {
        storeUnaligned<T>(payload + slot, value);
        clearNull(payload, column);
      }
    });
  }
};
template <typename T>
using Min = MinMax<T, false>;
template <typename T>
using Max = MinMax<T, true>;

// The fused pass (BufferOps::applyFixed): count, sum, min and max of one input column without
// nulls, each present when its bit of Roles is. The roles' buffers are those of
// forEachValue's kernels above; so are their results.
constexpr unsigned kFusedCount = 1, kFusedSum = 2, kFusedMin = 4, kFusedMax = 8;

struct FusedArgs {
  uint8_t* const* payloads;
  uint64_t count;
  const uint8_t* values;  // the chunk's first value
  uint32_t countSlot, sumSlot, minSlot, maxSlot, nullByte;
  uint8_t minBit, maxBit, clearBits;
  const std::string* sumName;
};

template <typename T, unsigned Roles>
void fusedPass(const FusedArgs& a) {
  constexpr bool kNullable = (Roles & (kFusedSum | kFusedMin | kFusedMax)) != 0;
  uint8_t* const* payloads = a.payloads;
  const uint8_t* values = a.values;
  const uint32_t countSlot = a.countSlot, sumSlot = a.sumSlot, minSlot = a.minSlot, maxSlot = a.maxSlot;
  const uint32_t nullByte = a.nullByte;
  const uint8_t minBit = a.minBit, maxBit = a.maxBit, keepBits = uint8_t(~a.clearBits);
  for (uint64_t i = 0, n = a.count; i < n; ++i) {
    uint8_t* p = payloads[i];
    const T value = loadUnaligned<T>(values + i * sizeof(T));
    if constexpr ((Roles & kFusedCount) != 0) storeUnaligned<int64_t>(p + countSlot, loadUnaligned<int64_t>(p + countSlot) + 1);
    if constexpr ((Roles & kFusedSum) != 0) {
      if constexpr (std::is_integral_v<T>) {
        int64_t sum;
        if (__builtin_add_overflow(loadUnaligned<int64_t>(p + sumSlot), value, &sum)) overflow(*a.sumName);
        storeUnaligned<int64_t>(p + sumSlot, sum);
      } else {
        storeUnaligned<double>(p + sumSlot, loadUnaligned<double>(p + sumSlot) + static_cast<double>(value));
      }
    }
    if constexpr (kNullable) {
      const uint8_t nulls = p[nullByte];
      if constexpr ((Roles & kFusedMin) != 0) {
        if ((nulls & minBit) != 0 || SortOrder<T>::less(value, loadUnaligned<T>(p + minSlot))) storeUnaligned<T>(p + minSlot, value);
      }
      if constexpr ((Roles & kFusedMax) != 0) {
        if ((nulls & maxBit) != 0 || SortOrder<T>::less(loadUnaligned<T>(p + maxSlot), value)) storeUnaligned<T>(p + maxSlot, value);
      }
      p[nullByte] = nulls & keepBits;
    }
  }
}

// fusedPass<T, roles> for roles 0..15, indexed by the roles.
template <typename T, size_t... Roles>
constexpr auto fusedPasses(std::index_sequence<Roles...>) {
  return std::array<void (*)(const FusedArgs&), sizeof...(Roles)>{&fusedPass<T, Roles>...};
}

template <typename T>
struct FusedKernel {
  static void run(unsigned roles, const FusedArgs& args) {
    static constexpr auto kPasses = fusedPasses<T>(std::make_index_sequence<16>{});
    kPasses[roles](args);
  }
};

// Calls Kernel<C type of `type`>::run(args...) for integer and float inputs; false otherwise.
template <template <typename> class Kernel, typename... Args>
bool dispatchNumber(const ColumnType& type, Args&&... args) {
  switch (type.physical) {
    case PhysicalType::kInt:
      switch (type.width) {
        case 1: Kernel<int8_t>::run(args...); return true;
        case 2: Kernel<int16_t>::run(args...); return true;
        case 4: Kernel<int32_t>::run(args...); return true;
        case 8: Kernel<int64_t>::run(args...); return true;
      }
      return false;
    case PhysicalType::kUInt:
      switch (type.width) {
        case 1: Kernel<uint8_t>::run(args...); return true;
        case 2: Kernel<uint16_t>::run(args...); return true;
        case 4: Kernel<uint32_t>::run(args...); return true;
        case 8: Kernel<uint64_t>::run(args...); return true;
      }
      return false;
    case PhysicalType::kFloat:
      if (type.width == 4) Kernel<float>::run(args...);
      else Kernel<double>::run(args...);
      return true;
    default: return false;
  }
}

// min and max of booleans, decimals and fixed-size binary: one value at a time, copied into a
// row slot and compared as the sort compares it.
void minMaxOther(const Target& t, const ColumnView& input, uint64_t firstRow, bool isMax) {
  const ColumnType& type = input.type;
  const uint32_t width = slotBytes(type);
  std::vector<uint8_t> value(width);
  for (uint64_t i = 0; i < t.count; ++i) {
    const uint64_t row = firstRow + i;
    if (input.isNull(row)) continue;
    if (type.physical == PhysicalType::kBool) {
      const uint64_t bit = input.valuesBitOffset + row;
      value[0] = (input.values[bit >> 3] >> (bit & 7)) & 1;
    } else {
      std::memcpy(value.data(), input.values + row * width, width);
    }
    uint8_t* payload = t.payloads[i];
    const bool empty = RowLayout::isNull(payload, t.column);
    const int c = empty ? 0 : compareSlotValues(type, value.data(), 0, payload, t.slot);
    if (empty || (isMax ? c > 0 : c < 0)) {
      std::memcpy(payload + t.slot, value.data(), width);
      clearNull(payload, t.column);
    }
  }
}

// A var-width input value, or nullptr for null.
BufferOps::VarValue varInput(const ColumnView& input, uint64_t row) {
  if (input.isNull(row)) return {nullptr, 0};
  const uint64_t start = varOffset(input, row);
  return {input.values + start, static_cast<uint32_t>(varOffset(input, row + 1) - start)};
}

int compareBytes(const uint8_t* a, uint32_t aLength, const uint8_t* b, uint32_t bLength) {
  const int c = std::memcmp(a, b, std::min(aLength, bLength));
  if (c != 0) return c;
  return (aLength > bLength) - (aLength < bLength);
}

}  // namespace

std::vector<BufferColumn> bufferColumns(const std::vector<AggregateSpec>& specs) {
  std::vector<BufferColumn> columns;
  for (uint32_t a = 0; a < specs.size(); ++a) {
    const AggregateSpec& spec = specs[a];
    const bool needsNumber = spec.function == AggregateFunction::kSum || spec.function == AggregateFunction::kAvg;
    if (needsNumber && !isNumber(spec.inputType)) {
      throw Error(ErrorCode::kInvalidArgument, spec.name + " needs a numeric (integer or floating point) column");
    }
    switch (spec.function) {
      case AggregateFunction::kCountStar:
      case AggregateFunction::kCount: columns.push_back({BufferRole::kCount, kInt64, a}); break;
      case AggregateFunction::kSum:
        if (spec.inputType.physical == PhysicalType::kFloat) columns.push_back({BufferRole::kSumFloat, kFloat64, a});
        else columns.push_back({BufferRole::kSumInt, kInt64, a});
        break;
      case AggregateFunction::kMin: columns.push_back({BufferRole::kMin, spec.inputType, a}); break;
      case AggregateFunction::kMax: columns.push_back({BufferRole::kMax, spec.inputType, a}); break;
      case AggregateFunction::kAvg:
        columns.push_back({BufferRole::kSumFloat, kFloat64, a});
        columns.push_back({BufferRole::kCount, kInt64, a});
        break;
    }
  }
  return columns;
}

std::vector<BufferUpdate> bufferUpdates(const std::vector<AggregateSpec>& specs,
                                        const std::vector<BufferColumn>& buffers, AggregationMode mode,
                                        uint32_t numKeys) {
  std::vector<BufferUpdate> updates;
  for (uint32_t b = 0; b < buffers.size(); ++b) {
    const BufferColumn& buffer = buffers[b];
    const AggregateSpec& spec = specs[buffer.aggregate];
    if (mode == AggregationMode::kFinal) {
      UpdateOp op = UpdateOp::kAddCount;
      switch (buffer.role) {
        case BufferRole::kCount: op = UpdateOp::kAddCount; break;
        case BufferRole::kSumInt: op = UpdateOp::kSumInt; break;
        case BufferRole::kSumFloat: op = UpdateOp::kSumFloat; break;
        case BufferRole::kMin: op = UpdateOp::kMin; break;
        case BufferRole::kMax: op = UpdateOp::kMax; break;
      }
      updates.push_back({op, b, numKeys + b, buffer.type});
      continue;
    }
    UpdateOp op = UpdateOp::kCountRows;
    switch (buffer.role) {
      case BufferRole::kCount:
        op = spec.function == AggregateFunction::kCountStar ? UpdateOp::kCountRows : UpdateOp::kCountValid;
        break;
      case BufferRole::kSumInt: op = UpdateOp::kSumInt; break;
      case BufferRole::kSumFloat: op = UpdateOp::kSumFloat; break;
      case BufferRole::kMin: op = UpdateOp::kMin; break;
      case BufferRole::kMax: op = UpdateOp::kMax; break;
    }
    updates.push_back({op, b, spec.inputColumn, spec.inputType});
  }
  return updates;
}

namespace {

std::vector<ColumnType> typesOf(const std::vector<BufferColumn>& columns) {
  std::vector<ColumnType> types;
  for (const BufferColumn& column : columns) types.push_back(column.type);
  return types;
}

}  // namespace

BufferOps::BufferOps(std::vector<AggregateSpec> specs, AggregationMode mode, uint32_t numKeys)
    : specs_(std::move(specs)), columns_(bufferColumns(specs_)), layout_(typesOf(columns_)) {
  updates_ = bufferUpdates(specs_, columns_, mode, numKeys);
  chooseFusedPass();
  initial_.assign(layout_.fixedPayloadBytes(), 0);
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].role != BufferRole::kCount) initial_[c >> 3] |= uint8_t(1u << (c & 7));
    if (columns_[c].type.physical == PhysicalType::kVarBinary) {
      storeUnaligned<uint32_t>(initial_.data() + layout_.slotOffset(c), layout_.fixedPayloadBytes());
    }
  }
}

// The fused pass takes the numeric input column most updates read: its count (count(*), or
// count of the column, the same when it has no nulls), its sum when the buffer is the one the
// input's type sums into (not avg's float sum of integers), its min and its max, at most one
// each, when there are two or more of them and the sum, min and max null bits share a byte.
void BufferOps::chooseFusedPass() {
  fused_ = FusedPass{};
  fused_.covers.assign(updates_.size(), false);
  auto readsNumber = [&](const BufferUpdate& update) {
    return (update.op == UpdateOp::kCountValid || update.op == UpdateOp::kSumInt || update.op == UpdateOp::kSumFloat ||
            update.op == UpdateOp::kMin || update.op == UpdateOp::kMax) &&
           isNumber(update.inputType);
  };
  uint32_t column = 0;
  size_t bestReads = 0;
  for (const BufferUpdate& candidate : updates_) {
    if (!readsNumber(candidate)) continue;
    const size_t reads = std::count_if(updates_.begin(), updates_.end(), [&](const BufferUpdate& u) {
      return readsNumber(u) && u.inputColumn == candidate.inputColumn;
    });
    if (reads > bestReads) {
      bestReads = reads;
      column = candidate.inputColumn;
    }
  }
  if (bestReads == 0) return;
  FusedPass pass;
  pass.inputColumn = column;
  pass.covers.assign(updates_.size(), false);
  std::vector<uint32_t> nullable;  // buffer columns with a null bit the pass clears
  for (size_t u = 0; u < updates_.size(); ++u) {
    const BufferUpdate& update = updates_[u];
    const bool reads = readsNumber(update) && update.inputColumn == column;
    if (reads) pass.inputType = update.inputType;
    const bool floatInput = update.inputType.physical == PhysicalType::kFloat;
    unsigned role = 0;
    if (update.op == UpdateOp::kCountRows || (reads && update.op == UpdateOp::kCountValid)) role = kFusedCount;
    else if (reads && update.op == (floatInput ? UpdateOp::kSumFloat : UpdateOp::kSumInt)) role = kFusedSum;
    else if (reads && update.op == UpdateOp::kMin) role = kFusedMin;
    else if (reads && update.op == UpdateOp::kMax) role = kFusedMax;
    if (role == 0 || (pass.roles & role) != 0) continue;
    pass.roles |= role;
    pass.covers[u] = true;
    const uint32_t slot = layout_.slotOffset(update.bufferColumn);
    const uint8_t bit = uint8_t(1u << (update.bufferColumn & 7));
    switch (role) {
      case kFusedCount: pass.countSlot = slot; break;
      case kFusedSum: pass.sumSlot = slot, pass.sumAggregate = columns_[update.bufferColumn].aggregate; break;
      case kFusedMin: pass.minSlot = slot, pass.minBit = bit; break;
      case kFusedMax: pass.maxSlot = slot, pass.maxBit = bit; break;
    }
    if (role != kFusedCount) {
      nullable.push_back(update.bufferColumn);
      pass.clearBits |= bit;
    }
  }
  if (std::popcount(pass.roles) < 2) return;
  if (!nullable.empty()) {
    pass.nullByte = nullable.front() >> 3;
    for (uint32_t c : nullable) {
      if (c >> 3 != pass.nullByte) return;
    }
  }
  fused_ = std::move(pass);
}

void BufferOps::applyFixed(const BatchView& batch, uint64_t firstRow, uint64_t count, uint8_t* const* payloads) const {
  bool fusedDone = false;
  if (fused_.roles != 0) {
    const ColumnView& input = batch.columns[fused_.inputColumn];
    if (input.validity == nullptr && input.type.physical == fused_.inputType.physical &&
        input.type.width == fused_.inputType.width) {
      const FusedArgs args{payloads,        count,           input.values + firstRow * input.type.width,
                           fused_.countSlot, fused_.sumSlot,  fused_.minSlot,
                           fused_.maxSlot,  fused_.nullByte, fused_.minBit,
                           fused_.maxBit,   fused_.clearBits, &specs_[fused_.sumAggregate].name};
      fusedDone = dispatchNumber<FusedKernel>(input.type, fused_.roles, args);
    }
  }
  for (size_t u = 0; u < updates_.size(); ++u) {
    if (fusedDone && fused_.covers[u]) continue;
    const BufferUpdate& update = updates_[u];
    const BufferColumn& buffer = columns_[update.bufferColumn];
    if (buffer.type.physical == PhysicalType::kVarBinary) continue;
    const Target target{payloads, count, layout_.slotOffset(update.bufferColumn), update.bufferColumn};
    const std::string& name = specs_[buffer.aggregate].name;
    if (update.op == UpdateOp::kCountRows) {
      countRows(target);
      continue;
    }
    const ColumnView& input = batch.columns[update.inputColumn];
    bool done = true;
    switch (update.op) {
      case UpdateOp::kCountRows: break;
      case UpdateOp::kCountValid: countValid(target, input, firstRow); break;
      case UpdateOp::kAddCount: addCount(target, input, firstRow); break;
      case UpdateOp::kSumInt: done = dispatchNumber<SumInt>(input.type, target, input, firstRow, name); break;
      case UpdateOp::kSumFloat: done = dispatchNumber<SumFloat>(input.type, target, input, firstRow, name); break;
      case UpdateOp::kMin:
        if (!dispatchNumber<Min>(input.type, target, input, firstRow, name)) minMaxOther(target, input, firstRow, false);
        break;
      case UpdateOp::kMax:
        if (!dispatchNumber<Max>(input.type, target, input, firstRow, name)) minMaxOther(target, input, firstRow, true);
        break;
    }
    if (!done) throw Error(ErrorCode::kInvalidArgument, name + ": the input column's type cannot be summed");
  }
}

bool BufferOps::varValuesAfterRow(const BatchView& batch, uint64_t row, const uint8_t* payload, VarValue* values) const {
  bool changed = false;
  size_t v = 0;
  for (const BufferUpdate& update : updates_) {
    if (columns_[update.bufferColumn].type.physical != PhysicalType::kVarBinary) continue;
    const uint32_t column = update.bufferColumn;
    const uint32_t slot = layout_.slotOffset(column);
    VarValue& value = values[v++];
    value = {nullptr, 0};
    if (!RowLayout::isNull(payload, column)) value.bytes = RowLayout::varValue(payload, slot, &value.length);
    const BufferOps::VarValue input = varInput(batch.columns[update.inputColumn], row);
    if (input.bytes == nullptr) continue;
    const bool isMax = update.op == UpdateOp::kMax;
    const int c = value.bytes == nullptr ? 0 : compareBytes(input.bytes, input.length, value.bytes, value.length);
    if (value.bytes == nullptr || (isMax ? c > 0 : c < 0)) {
      value = {input.bytes, input.length};
      changed = true;
    }
  }
  return changed;
}

bool BufferOps::varValuesAfterCombine(const uint8_t* payload, const uint8_t* other, VarValue* values) const {
  bool changed = false;
  size_t v = 0;
  for (uint32_t column : layout_.varColumns()) {
    const uint32_t slot = layout_.slotOffset(column);
    VarValue& value = values[v++];
    value = {nullptr, 0};
    if (!RowLayout::isNull(payload, column)) value.bytes = RowLayout::varValue(payload, slot, &value.length);
    if (RowLayout::isNull(other, column)) continue;
    VarValue candidate{nullptr, 0};
    candidate.bytes = RowLayout::varValue(other, slot, &candidate.length);
    const bool isMax = columns_[column].role == BufferRole::kMax;
    const int c = value.bytes == nullptr ? 0 : compareBytes(candidate.bytes, candidate.length, value.bytes, value.length);
    if (value.bytes == nullptr || (isMax ? c > 0 : c < 0)) {
      value = candidate;
      changed = true;
    }
  }
  return changed;
}

uint64_t BufferOps::payloadBytesWith(const VarValue* values) const {
  uint64_t bytes = layout_.fixedPayloadBytes();
  for (size_t v = 0; v < numVarColumns(); ++v) bytes += values[v].length;
  return bytes;
}

bool BufferOps::fitsInPlace(const uint8_t* payload, const uint8_t* payloadEnd, const VarValue* values) const {
  const std::vector<uint32_t>& var = layout_.varColumns();
  for (size_t v = 0; v < var.size(); ++v) {
    const uint32_t offset = loadUnaligned<uint32_t>(payload + layout_.slotOffset(var[v]));
    const uint64_t end = v + 1 < var.size() ? loadUnaligned<uint32_t>(payload + layout_.slotOffset(var[v + 1]))
                                            : static_cast<uint64_t>(payloadEnd - payload);
    if (values[v].length > end - offset) return false;
  }
  return true;
}

void BufferOps::writeVarInPlace(uint8_t* payload, const VarValue* values) const {
  const std::vector<uint32_t>& var = layout_.varColumns();
  for (size_t v = 0; v < var.size(); ++v) {
    if (values[v].bytes == nullptr) continue;
    const uint32_t slot = layout_.slotOffset(var[v]);
    uint8_t* at = payload + loadUnaligned<uint32_t>(payload + slot);
    if (values[v].bytes != at) std::memcpy(at, values[v].bytes, values[v].length);
    storeUnaligned<uint32_t>(payload + slot + 4, values[v].length);
    clearNull(payload, var[v]);
  }
}

uint64_t BufferOps::writeWith(uint8_t* to, const uint8_t* from, const VarValue* values) const {
  std::memcpy(to, from, layout_.fixedPayloadBytes());
  uint32_t cursor = layout_.fixedPayloadBytes();
  const std::vector<uint32_t>& var = layout_.varColumns();
  for (size_t v = 0; v < var.size(); ++v) {
    const uint32_t slot = layout_.slotOffset(var[v]);
    const uint32_t length = values[v].bytes == nullptr ? 0 : values[v].length;
    if (length > 0) std::memcpy(to + cursor, values[v].bytes, length);
    storeUnaligned<uint32_t>(to + slot, cursor);
    storeUnaligned<uint32_t>(to + slot + 4, length);
    if (values[v].bytes != nullptr) clearNull(to, var[v]);
    cursor += length;
  }
  return cursor;
}

void BufferOps::combineFixed(uint8_t* payload, const uint8_t* other) const {
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    const BufferColumn& column = columns_[c];
    if (column.type.physical == PhysicalType::kVarBinary) continue;
    const uint32_t slot = layout_.slotOffset(c);
    if (column.role == BufferRole::kCount) {
      storeUnaligned<int64_t>(payload + slot, loadUnaligned<int64_t>(payload + slot) + loadUnaligned<int64_t>(other + slot));
      continue;
    }
    if (RowLayout::isNull(other, c)) continue;
    const bool empty = RowLayout::isNull(payload, c);
    switch (column.role) {
      case BufferRole::kCount: break;
      case BufferRole::kSumInt: {
        int64_t sum = loadUnaligned<int64_t>(other + slot);
        if (!empty && __builtin_add_overflow(loadUnaligned<int64_t>(payload + slot), sum, &sum)) {
          overflow(specs_[column.aggregate].name);
        }
        storeUnaligned<int64_t>(payload + slot, sum);
        break;
      }
      case BufferRole::kSumFloat:
        storeUnaligned<double>(payload + slot, (empty ? 0.0 : loadUnaligned<double>(payload + slot)) + loadUnaligned<double>(other + slot));
        break;
      case BufferRole::kMin:
      case BufferRole::kMax: {
        const int c2 = empty ? 0 : compareSlotValues(column.type, other, slot, payload, slot);
        if (empty || (column.role == BufferRole::kMax ? c2 > 0 : c2 < 0)) {
          std::memcpy(payload + slot, other + slot, slotBytes(column.type));
        }
        break;
      }
    }
    clearNull(payload, c);
  }
}

}  // namespace tungsten
