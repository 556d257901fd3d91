// Physical column types as native/core sees them, and borrowed views of Arrow columns.
//
// TypeScript maps each Arrow type to a physical type (src/sort/schema.ts): date32 is a 4-byte
// kInt, timestamps and date64 are 8-byte kInt, utf8 and binary are kVarBinary with 4-byte
// offsets, their large variants with 8-byte offsets. native/core never needs the logical type:
// it copies, compares and rebuilds bytes; TypeScript puts the logical type back on output.
#pragma once

#include <cstdint>
#include <vector>

namespace tungsten {

enum class PhysicalType : uint8_t {
  kInt = 0,          // two's complement, width 1, 2, 4 or 8
  kUInt = 1,         // width 1, 2, 4 or 8
  kFloat = 2,        // IEEE 754, width 4 or 8
  kBool = 3,         // Arrow: bit-packed; in a row: one byte, 0 or 1
  kDecimal128 = 4,   // 16-byte little-endian two's complement
  kVarBinary = 5,    // width = bytes per offset, 4 or 8; bytes compared unsigned
  kFixedBinary = 6,  // width = bytes per value
};

struct ColumnType {
  PhysicalType physical;
  uint32_t width;
  // Decimal128 only: every value fits in int64 (precision <= 18), so an 8-byte prefix holds
  // the whole key.
  bool decimalFitsInt64 = false;
};

// One Arrow column of a batch, borrowed: native code reads it and never frees it.
struct ColumnView {
  ColumnType type;
  // Validity bitmap (bit set = valid) and the bit index of row 0 in it; null when no row is
  // null.
  const uint8_t* validity = nullptr;
  uint64_t validityBitOffset = 0;
  // Fixed-width values start at row 0 (Arrow JS slices these buffers); booleans are bits and
  // start at bit valuesBitOffset. Never null, even when empty: an empty value of a var-width
  // column points here too, and a null pointer is what marks a null value where values are
  // passed around (aggregate_functions.h).
  const uint8_t* values = nullptr;
  uint64_t valuesBitOffset = 0;
  // Variable-width: offsets[0..numRows] (width bytes each) into `values`.
  const uint8_t* offsets = nullptr;

  bool isNull(uint64_t row) const {
    if (validity == nullptr) return false;
    uint64_t bit = validityBitOffset + row;
    return ((validity[bit >> 3] >> (bit & 7)) & 1) == 0;
  }
};

struct BatchView {
  uint64_t numRows = 0;
  std::vector<ColumnView> columns;
};

}  // namespace tungsten
