#include "row_format.h"

#include <string>

#include "errors.h"

namespace tungsten {

uint32_t slotBytes(const ColumnType& type) {
  switch (type.physical) {
    case PhysicalType::kBool: return 1;
    case PhysicalType::kDecimal128: return 16;
    case PhysicalType::kVarBinary: return kVarSlotBytes;
    default: return type.width;
  }
}

RowLayout::RowLayout(std::vector<ColumnType> columns) : columns_(std::move(columns)) {
  nullBitmapBytes_ = static_cast<uint32_t>((columns_.size() + 7) / 8);
  uint32_t offset = nullBitmapBytes_;
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    slotOffsets_.push_back(offset);
    offset += slotBytes(columns_[c]);
    if (columns_[c].physical == PhysicalType::kVarBinary) varColumns_.push_back(c);
  }
  fixedPayloadBytes_ = offset;
}

uint64_t RowLayout::payloadBytes(const BatchView& batch, uint64_t row) const {
  uint64_t bytes = fixedPayloadBytes_;
  for (uint32_t c : varColumns_) {
    const ColumnView& column = batch.columns[c];
    if (!column.isNull(row)) bytes += varOffset(column, row + 1) - varOffset(column, row);
  }
  if (bytes > UINT32_MAX) {
    throw Error(ErrorCode::kRecordTooLarge,
                "row " + std::to_string(row) + " needs " + std::to_string(bytes) +
                    " bytes; a row may hold at most 4 GiB - 1 bytes");
  }
  return bytes;
}

namespace {

// Column-at-a-time copy of fixed-width values into the rows' slots: one tight loop per column
// instead of a type switch per value.
template <uint32_t Width>
void copyFixed(const ColumnView& column, uint64_t firstRow, uint64_t count, uint8_t* const* records,
               uint32_t slot) {
  const uint8_t* values = column.values + firstRow * Width;
  for (uint64_t i = 0; i < count; ++i) {
    std::memcpy(records[i] + kRecordLengthBytes + slot, values + i * Width, Width);
  }
}

void copyFixedAnyWidth(const ColumnView& column, uint32_t width, uint64_t firstRow, uint64_t count,
                       uint8_t* const* records, uint32_t slot) {
  switch (width) {
    case 1: return copyFixed<1>(column, firstRow, count, records, slot);
    case 2: return copyFixed<2>(column, firstRow, count, records, slot);
    case 4: return copyFixed<4>(column, firstRow, count, records, slot);
    case 8: return copyFixed<8>(column, firstRow, count, records, slot);
    case 16: return copyFixed<16>(column, firstRow, count, records, slot);
    default: {
      const uint8_t* values = column.values + firstRow * width;
      for (uint64_t i = 0; i < count; ++i) {
        std::memcpy(records[i] + kRecordLengthBytes + slot, values + i * width, width);
      }
    }
  }
}

}  // namespace

void RowLayout::writeRows(const BatchView& batch, uint64_t firstRow, uint64_t count,
                          uint8_t* const* records) const {
  // Null bitmaps first: they are read below to zero null slots.
  for (uint64_t i = 0; i < count; ++i) {
    std::memset(records[i] + kRecordLengthBytes, 0, nullBitmapBytes_);
  }
  for (uint32_t c = 0; c < columns_.size(); ++c) {
    const ColumnView& column = batch.columns[c];
    if (column.validity == nullptr) continue;
    for (uint64_t i = 0; i < count; ++i) {
      if (column.isNull(firstRow + i)) records[i][kRecordLengthBytes + (c >> 3)] |= uint8_t(1u << (c & 7));
    }
  }

  std::vector<uint32_t> varCursor;
  if (!varColumns_.empty()) varCursor.assign(count, fixedPayloadBytes_);

  for (uint32_t c = 0; c < columns_.size(); ++c) {
    const ColumnView& column = batch.columns[c];
    const ColumnType& type = columns_[c];
    const uint32_t slot = slotOffsets_[c];
    switch (type.physical) {
      case PhysicalType::kBool:
        for (uint64_t i = 0; i < count; ++i) {
          uint64_t bit = column.valuesBitOffset + firstRow + i;
          records[i][kRecordLengthBytes + slot] = (column.values[bit >> 3] >> (bit & 7)) & 1;
        }
        break;
      case PhysicalType::kVarBinary:
        for (uint64_t i = 0; i < count; ++i) {
          uint8_t* payload = records[i] + kRecordLengthBytes;
          uint32_t length = 0;
          uint32_t offset = varCursor[i];
          if (!column.isNull(firstRow + i)) {
            uint64_t start = varOffset(column, firstRow + i);
            length = static_cast<uint32_t>(varOffset(column, firstRow + i + 1) - start);
            std::memcpy(payload + offset, column.values + start, length);
            varCursor[i] = offset + length;
          }
          std::memcpy(payload + slot, &offset, 4);
          std::memcpy(payload + slot + 4, &length, 4);
        }
        break;
      default:
        copyFixedAnyWidth(column, slotBytes(type), firstRow, count, records, slot);
        break;
    }
    // A null's slot is zero, whatever garbage Arrow keeps under it, so that equal rows have
    // equal bytes.
    if (column.validity != nullptr && type.physical != PhysicalType::kVarBinary) {
      const uint32_t width = slotBytes(type);
      for (uint64_t i = 0; i < count; ++i) {
        if (column.isNull(firstRow + i)) std::memset(records[i] + kRecordLengthBytes + slot, 0, width);
      }
    }
  }
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t length = varColumns_.empty() ? fixedPayloadBytes_ : varCursor[i];
    std::memcpy(records[i], &length, 4);
  }
}

}  // namespace tungsten
