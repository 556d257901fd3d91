// Rebuilds Arrow column buffers from rows (the inverse of RowLayout::writeRows).
//
// Buffers are malloc'd here and handed to JavaScript, which wraps them as ArrayBuffers without
// copying and frees them when the batch is collected. An output batch is the caller's memory
// once returned, as rows handed to the consumer of a Spark iterator are; while it is built, it
// is bounded by the batch row count the caller chose.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "row_format.h"

namespace tungsten {

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

struct OutputBuffer {
  std::unique_ptr<uint8_t, FreeDeleter> data;
  size_t size = 0;
};

struct OutputColumn {
  OutputBuffer validity;  // empty when the column has no null in this batch
  OutputBuffer values;    // fixed-width values, bits for booleans, bytes for var-width
  OutputBuffer offsets;   // var-width only: numRows + 1 offsets of the column's width
  uint64_t nullCount = 0;
};

struct OutputBatch {
  uint64_t numRows = 0;
  std::vector<OutputColumn> columns;
};

// A malloc'd buffer of `size` bytes (zeroed when asked); throws std::bad_alloc.
OutputBuffer allocateOutputBuffer(size_t size, bool zero);

// `records[i]` points at row i's length field.
OutputBatch buildOutputBatch(const RowLayout& layout, const uint8_t* const* records, uint64_t numRows);
// The columns of `layout` from row payloads: `payloads[i]` is where row i's null bitmap starts
// (the aggregation's rows hold a key payload and a buffer payload back to back).
std::vector<OutputColumn> buildOutputColumns(const RowLayout& layout, const uint8_t* const* payloads, uint64_t numRows);

}  // namespace tungsten
