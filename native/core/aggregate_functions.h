// Aggregate functions as buffers: what each function keeps per group, how a row updates it,
// how two buffers combine, and what the final value is.
//
// A group's buffer is a row of the buffer layout (row_format.h), one or two columns per
// function:
//
//   function     buffer columns (role: type)              null until      final value
//   count(*)     kCount: int64                            never null      the count
//   count(col)   kCount: int64 (non-null values)          never null      the count
//   sum(int)     kSumInt: int64, checked                  a non-null row  the sum
//   sum(float)   kSumFloat: float64                       a non-null row  the sum
//   min(col)     kMin: the input's type                   a non-null row  the value
//   max(col)     kMax: the input's type                   a non-null row  the value
//   avg(num)     kSumFloat: float64, kCount: int64        (count 0)       sum / count, null at 0
//
// Integer sums (any signed or unsigned width) add into an int64 with an overflow check and
// raise kArithmeticOverflow rather than wrap (Spark's ANSI mode). min and max order values as
// the sort does: floats in total order (-0 < +0, NaN above +inf), bytes unsigned.
//
// The partial aggregation's output is the group keys followed by the buffer columns; the final
// aggregation takes exactly those rows as input and combines them. So each buffer column has
// two ways to be updated from an Arrow column:
//
//   mode                count(*)    count(c)     sum          min/max      avg
//   partial, complete   kCountRows  kCountValid  kSumInt/     kMin/kMax    kSumFloat +
//                                                kSumFloat                 kCountValid
//   final               kAddCount   kAddCount    kSumInt/     kMin/kMax    kSumFloat +
//                                                kSumFloat                 kAddCount
//
// and buffers of one group from different places (spill runs, the map) combine by the role.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "column_types.h"
#include "row_format.h"

namespace tungsten {

enum class AggregateFunction : uint8_t { kCountStar, kCount, kSum, kMin, kMax, kAvg };
enum class AggregationMode : uint8_t { kPartial, kFinal, kComplete };

struct AggregateSpec {
  AggregateFunction function;
  // The input batch column it reads (partial and complete); ignored by count(*).
  uint32_t inputColumn = 0;
  ColumnType inputType{PhysicalType::kInt, 8};
  // For messages only, e.g. "sum(v)".
  std::string name;
};

enum class BufferRole : uint8_t { kCount, kSumInt, kSumFloat, kMin, kMax };
enum class UpdateOp : uint8_t { kCountRows, kCountValid, kAddCount, kSumInt, kSumFloat, kMin, kMax };

struct BufferColumn {
  BufferRole role;
  ColumnType type;
  uint32_t aggregate;  // index into the specs
};

struct BufferUpdate {
  UpdateOp op;
  uint32_t bufferColumn;
  uint32_t inputColumn;
  ColumnType inputType;
};

// The buffer columns of `specs`, in order (see the table above). Throws kInvalidArgument for a
// function that cannot take its input type (sum or avg of a non-number).
std::vector<BufferColumn> bufferColumns(const std::vector<AggregateSpec>& specs);

// How rows of the mode's input update each buffer column. In the final mode the input's buffer
// columns start at `numKeys`.
std::vector<BufferUpdate> bufferUpdates(const std::vector<AggregateSpec>& specs,
                                        const std::vector<BufferColumn>& buffers, AggregationMode mode,
                                        uint32_t numKeys);

class BufferOps {
 public:
  BufferOps(std::vector<AggregateSpec> specs, AggregationMode mode, uint32_t numKeys);

  const RowLayout& layout() const { return layout_; }
  const std::vector<BufferColumn>& columns() const { return columns_; }
  const std::vector<AggregateSpec>& specs() const { return specs_; }
  bool hasVarColumns() const { return layout_.hasVarColumns(); }
  uint32_t fixedBytes() const { return layout_.fixedPayloadBytes(); }

  // Writes the initial buffer (nulls, zero counts, empty var values) at `payload`.
  void initialize(uint8_t* payload) const { std::memcpy(payload, initial_.data(), initial_.size()); }

  // Applies rows [firstRow, firstRow + count) of `batch` to the buffers at payloads[i], for
  // every fixed-width buffer column. Var-width columns are left to applyVarRow().
  //
  // Each update is a pass over the chunk (one kernel per function and input type), except the
  // updates of the fused pass: count, sum, min and max of one numeric input column (count(*)
  // too), applied in one pass over the chunk when that column has no nulls in the batch. A pass
  // per update loads each row's buffer pointer and value, and read-modify-writes its null byte,
  // once per update; fusing count(*), sum, min and max of one column took A1's buffer updates
  // from ~6.3 to ~2.9 ns a row.
  void applyFixed(const BatchView& batch, uint64_t firstRow, uint64_t count, uint8_t* const* payloads) const;

  // The var-width buffer values row `row` would leave in the buffer at `payload`: for each var
  // column in order, its bytes and length (either the current value or the row's). Returns
  // true when any of them changes.
  struct VarValue {
    const uint8_t* bytes;
    uint32_t length;
  };
  bool varValuesAfterRow(const BatchView& batch, uint64_t row, const uint8_t* payload, VarValue* values) const;
  // The same for combining the buffer at `other` into the one at `payload`.
  bool varValuesAfterCombine(const uint8_t* payload, const uint8_t* other, VarValue* values) const;

  // Bytes the buffer payload takes when its var columns hold `values`.
  uint64_t payloadBytesWith(const VarValue* values) const;
  // True when `values` fit in the buffer at `payload`, whose bytes end at `payloadEnd`, in place.
  bool fitsInPlace(const uint8_t* payload, const uint8_t* payloadEnd, const VarValue* values) const;
  // Writes `values` into the buffer at `payload` in place (fitsInPlace must hold).
  void writeVarInPlace(uint8_t* payload, const VarValue* values) const;
  // Writes the whole buffer at `to`: the fixed part of `from` and the var `values`, packed.
  // `values` may point into `from`; `to` must not overlap it. Returns the bytes written.
  uint64_t writeWith(uint8_t* to, const uint8_t* from, const VarValue* values) const;

  // Combines the buffer at `other` into the one at `payload`, for every fixed-width column.
  void combineFixed(uint8_t* payload, const uint8_t* other) const;

  size_t numVarColumns() const { return layout_.varColumns().size(); }

 private:
  std::vector<AggregateSpec> specs_;
  std::vector<BufferColumn> columns_;
  RowLayout layout_;
  std::vector<BufferUpdate> updates_;
  std::vector<uint8_t> initial_;

  // The updates applyFixed fuses into one pass (see there); chosen once, in the constructor.
  struct FusedPass {
    uint32_t inputColumn = 0;
    ColumnType inputType{PhysicalType::kInt, 8};
    // Slot offsets of the fused buffer columns; absent roles are not read.
    uint32_t countSlot = 0, sumSlot = 0, minSlot = 0, maxSlot = 0;
    // The roles present, a bit each: count 1, sum 2, min 4, max 8 (0: no fused pass).
    unsigned roles = 0;
    // The sum, min and max columns' null bits, all in payload byte `nullByte`.
    uint32_t nullByte = 0;
    uint8_t minBit = 0, maxBit = 0, clearBits = 0;
    uint32_t sumAggregate = 0;  // for the overflow message
    // The updates done by this pass (indices into updates_), skipped by the per-update passes.
    std::vector<bool> covers;
  };
  FusedPass fused_;
  void chooseFusedPass();
};

}  // namespace tungsten
