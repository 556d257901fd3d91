// The row format of records in sorter pages and spill files.
//
// A record is a 4-byte length followed by the payload (Spark's [len][bytes]); a record address
// (page number + offset) points at the length:
//
//   +-----------+----------------------+--------------------------+------------------+
//   | u32 len   | null bitmap          | fixed slots              | variable bytes   |
//   | (payload  | ceil(columns/8) B,   | one per column, in       | values of var-   |
//   |  bytes)   | bit c set: c is null | column order             | width columns    |
//   +-----------+----------------------+--------------------------+------------------+
//               ^ payload starts here; every offset below is from here
//
// Fixed slot of a column, by physical type:
//   kInt, kUInt, kFloat  `width` bytes, little-endian, as in Arrow
//   kBool                1 byte, 0 or 1
//   kDecimal128          16 bytes, little-endian two's complement
//   kFixedBinary         `width` bytes
//   kVarBinary           8 bytes: u32 offset of the value from the payload start, u32 length
// A null value's slot is zero and a null var-width value has length 0; only the bitmap says
// null. Nothing is aligned: x86-64 and AArch64 load unaligned words at full speed, and
// padding would cost memory in every record.
//
// Limits: the payload length is a u32, so a record holds at most 4 GiB - 1 bytes; a larger
// row is refused (kRecordTooLarge) before anything is written.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "column_types.h"

namespace tungsten {

inline constexpr uint32_t kRecordLengthBytes = 4;
inline constexpr uint32_t kVarSlotBytes = 8;

class RowLayout {
 public:
  explicit RowLayout(std::vector<ColumnType> columns);

  const std::vector<ColumnType>& columns() const { return columns_; }
  uint32_t numColumns() const { return static_cast<uint32_t>(columns_.size()); }
  uint32_t nullBitmapBytes() const { return nullBitmapBytes_; }
  // Null bitmap plus every fixed slot: the payload of a row without variable bytes.
  uint32_t fixedPayloadBytes() const { return fixedPayloadBytes_; }
  uint32_t slotOffset(uint32_t column) const { return slotOffsets_[column]; }
  bool hasVarColumns() const { return !varColumns_.empty(); }
  const std::vector<uint32_t>& varColumns() const { return varColumns_; }

  // Payload bytes of one input row. Throws kRecordTooLarge above the u32 limit.
  uint64_t payloadBytes(const BatchView& batch, uint64_t row) const;

  // Writes rows [firstRow, firstRow + count) of `batch`; records[i] is where row firstRow + i
  // starts (its length field), with room for its record already checked by the caller.
  void writeRows(const BatchView& batch, uint64_t firstRow, uint64_t count,
                 uint8_t* const* records) const;

  static uint32_t payloadLength(const uint8_t* record) {
    uint32_t length;
    std::memcpy(&length, record, sizeof length);
    return length;
  }
  static const uint8_t* payload(const uint8_t* record) { return record + kRecordLengthBytes; }
  static bool isNull(const uint8_t* payload, uint32_t column) {
    return (payload[column >> 3] >> (column & 7)) & 1;
  }
  // A var-width value: its bytes and length.
  static const uint8_t* varValue(const uint8_t* payload, uint32_t slotOffset, uint32_t* length) {
    uint32_t offset;
    std::memcpy(&offset, payload + slotOffset, 4);
    std::memcpy(length, payload + slotOffset + 4, 4);
    return payload + offset;
  }

 private:
  std::vector<ColumnType> columns_;
  std::vector<uint32_t> slotOffsets_;
  std::vector<uint32_t> varColumns_;
  uint32_t nullBitmapBytes_;
  uint32_t fixedPayloadBytes_;
};

uint32_t slotBytes(const ColumnType& type);

// Reads a var-width column's offset for `row` (4- or 8-byte offsets).
inline uint64_t varOffset(const ColumnView& column, uint64_t row) {
  if (column.type.width == 4) {
    int32_t offset;
    std::memcpy(&offset, column.offsets + row * 4, 4);
    return static_cast<uint64_t>(static_cast<uint32_t>(offset));
  }
  int64_t offset;
  std::memcpy(&offset, column.offsets + row * 8, 8);
  return static_cast<uint64_t>(offset);
}

}  // namespace tungsten
