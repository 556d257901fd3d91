// Rebuilds Arrow column buffers from rows (the inverse of RowLayout::writeRows).
//
// Buffers are allocated here and handed to JavaScript, which wraps them as ArrayBuffers without
// copying. They are freed (freeOutputBytes) when the engine releases a batch it consumed itself
// (the binding detaches its ArrayBuffers), or else when the batch is garbage collected. Buffers
// of 64 KiB and more are mapped directly rather than malloc'd: they are freed on another thread
// than the worker that allocated them, and glibc would keep such freed chunks in its arenas (its
// mmap threshold rises after the first large free), which made resident memory grow with every
// batch read. Freed mappings are kept, up to kCachedOutputBytes over the process, and handed to
// the next buffer of the same page-rounded length: faulting in fresh pages for every decoded
// batch was 15% of the CPU of a job that reads an IPC file (the kernel zeroes each page, and on
// a virtual machine the host may have to back it too). An output batch is the caller's memory
// once returned, as rows handed to the consumer of a Spark iterator are; it is bounded by the
// batch row count the caller chose, and outputBytesLive() counts what all of them hold.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "byte_vector.h"
#include "row_format.h"

namespace tungsten {

// Frees what allocateOutputBuffer returned; `size` must be the size asked for.
void freeOutputBytes(void* data, size_t size);

struct OutputBytesDeleter {
  size_t size = 0;
  bool owned = true;  // false: a view of an OutputArena's memory, which the arena frees
  void operator()(uint8_t* p) const {
    if (owned) freeOutputBytes(p, size);
  }
};

struct OutputBuffer {
  std::unique_ptr<uint8_t, OutputBytesDeleter> data;
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

// Output bytes allocated and not yet freed, over the process: what batches handed to
// JavaScript hold outside any grant (tests check that the engine frees them as it goes).
uint64_t outputBytesLive();

// The bound on freed output mappings kept for reuse: resident memory outside grants, a
// constant of the process (the README lists it), not a share of any budget.
inline constexpr uint64_t kCachedOutputBytes = uint64_t{16} << 20;
// Bytes of freed output mappings kept for reuse now (at most kCachedOutputBytes).
uint64_t outputBytesCached();
// Unmaps the kept mappings (a session closing gives its memory back).
void releaseCachedOutputBytes();

// A buffer of `size` bytes (zeroed when asked); throws std::bad_alloc.
OutputBuffer allocateOutputBuffer(size_t size, bool zero);

// Reusable memory for output batches that never leave native code (the shuffle sorter encodes
// each batch and writes it at once): buffers taken from it are views, valid until reset(), and
// are neither counted by outputBytesLive nor freed by their deleter. Mapping and unmapping a
// fresh buffer per column per batch cost more system time than the encoding itself.
class OutputArena {
 public:
  OutputBuffer take(size_t size, bool zero);
  // Every buffer taken is dead from here on; the memory is kept for the next batch.
  void reset() { next_ = 0; }
  // Frees the memory.
  void release() {
    blocks_.clear();
    blocks_.shrink_to_fit();
    next_ = 0;
  }

 private:
  std::vector<ByteVector> blocks_;
  size_t next_ = 0;
};

// `records[i]` points at row i's length field. With an arena, the buffers are its views.
OutputBatch buildOutputBatch(const RowLayout& layout, const uint8_t* const* records, uint64_t numRows,
                             OutputArena* arena = nullptr);
// The columns of `layout` from row payloads: `payloads[i]` is where row i's null bitmap starts
// (the aggregation's rows hold a key payload and a buffer payload back to back).
std::vector<OutputColumn> buildOutputColumns(const RowLayout& layout, const uint8_t* const* payloads, uint64_t numRows,
                                             OutputArena* arena = nullptr);

}  // namespace tungsten
