#include "arrow_output.h"

#include <cstring>
#include <new>

namespace tungsten {

namespace {

OutputBuffer allocate(size_t size, bool zero) {
  OutputBuffer buffer;
  buffer.size = size;
  if (size == 0) return buffer;
  void* p = zero ? std::calloc(1, size) : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  buffer.data.reset(static_cast<uint8_t*>(p));
  return buffer;
}

template <uint32_t Width>
void gatherFixed(const uint8_t* const* records, uint64_t n, uint32_t slot, uint8_t* out) {
  for (uint64_t i = 0; i < n; ++i) std::memcpy(out + i * Width, records[i] + kRecordLengthBytes + slot, Width);
}

void gatherFixedAnyWidth(const uint8_t* const* records, uint64_t n, uint32_t slot, uint32_t width, uint8_t* out) {
  switch (width) {
    case 1: return gatherFixed<1>(records, n, slot, out);
    case 2: return gatherFixed<2>(records, n, slot, out);
    case 4: return gatherFixed<4>(records, n, slot, out);
    case 8: return gatherFixed<8>(records, n, slot, out);
    case 16: return gatherFixed<16>(records, n, slot, out);
    default:
      for (uint64_t i = 0; i < n; ++i) std::memcpy(out + i * width, records[i] + kRecordLengthBytes + slot, width);
  }
}

}  // namespace

OutputBatch buildOutputBatch(const RowLayout& layout, const uint8_t* const* records, uint64_t n) {
  OutputBatch batch;
  batch.numRows = n;
  batch.columns.resize(layout.numColumns());
  for (uint32_t c = 0; c < layout.numColumns(); ++c) {
    OutputColumn& column = batch.columns[c];
    const ColumnType& type = layout.columns()[c];
    const uint32_t slot = layout.slotOffset(c);

    for (uint64_t i = 0; i < n; ++i) column.nullCount += RowLayout::isNull(records[i] + kRecordLengthBytes, c);
    if (column.nullCount > 0) {
      column.validity = allocate((n + 7) / 8, true);
      uint8_t* bits = column.validity.data.get();
      for (uint64_t i = 0; i < n; ++i) {
        if (!RowLayout::isNull(records[i] + kRecordLengthBytes, c)) bits[i >> 3] |= uint8_t(1u << (i & 7));
      }
    }

    switch (type.physical) {
      case PhysicalType::kBool: {
        column.values = allocate((n + 7) / 8, true);
        uint8_t* bits = column.values.data.get();
        for (uint64_t i = 0; i < n; ++i) {
          if (records[i][kRecordLengthBytes + slot]) bits[i >> 3] |= uint8_t(1u << (i & 7));
        }
        break;
      }
      case PhysicalType::kVarBinary: {
        uint64_t total = 0;
        for (uint64_t i = 0; i < n; ++i) {
          uint32_t length;
          std::memcpy(&length, records[i] + kRecordLengthBytes + slot + 4, 4);
          total += length;
        }
        const uint32_t offsetWidth = type.width;
        column.offsets = allocate((n + 1) * offsetWidth, false);
        column.values = allocate(total, false);
        uint8_t* offsets = column.offsets.data.get();
        uint8_t* values = column.values.data.get();
        uint64_t at = 0;
        for (uint64_t i = 0; i < n; ++i) {
          if (offsetWidth == 4) {
            int32_t o = static_cast<int32_t>(at);
            std::memcpy(offsets + i * 4, &o, 4);
          } else {
            int64_t o = static_cast<int64_t>(at);
            std::memcpy(offsets + i * 8, &o, 8);
          }
          uint32_t length;
          const uint8_t* bytes = RowLayout::varValue(records[i] + kRecordLengthBytes, slot, &length);
          std::memcpy(values + at, bytes, length);
          at += length;
        }
        if (offsetWidth == 4) {
          int32_t o = static_cast<int32_t>(at);
          std::memcpy(offsets + n * 4, &o, 4);
        } else {
          int64_t o = static_cast<int64_t>(at);
          std::memcpy(offsets + n * 8, &o, 8);
        }
        break;
      }
      default: {
        const uint32_t width = slotBytes(type);
        column.values = allocate(n * width, false);
        gatherFixedAnyWidth(records, n, slot, width, column.values.data.get());
        break;
      }
    }
  }
  return batch;
}

}  // namespace tungsten
