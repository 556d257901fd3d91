// Inserting an IPC reader's record batches into an operator on one worker thread, batch after
// batch, with no trip through JavaScript per batch.
//
// Reading a batch on a worker, handing it to JavaScript, and handing it back to another worker
// to insert cost a map task of A1 half its wall time: two queued works per batch, each waiting
// for the event loop, which the other task's completions also wait for. Pulled here, a call
// reads and inserts up to `maxBatches` batches and returns only when it is done, when the
// operator asks for memory (TypeScript grants it, or spills, and calls again), or after those
// batches (so that a kill is seen between calls).
//
// What is tracked: the batch being inserted when the operator stopped (PulledBatch), kept
// between calls with its reader (PullableReader); it is reader output, outside grants, as a
// batch handed to JavaScript would be (one batch per reader). Nothing else is held.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "arrow_output.h"
#include "column_types.h"
#include "ipc_segment_reader.h"

namespace tungsten {

struct PulledBatch {
  OutputBatch batch;
  BatchView view;  // the operator's input columns of `batch`
  uint64_t nextRow = 0;
  bool active = false;
};

// A reader whose batches an operator may pull, and the batch the operator stopped in. Whoever
// reads the reader otherwise must check `pulled.active` first: the rest of that batch would be
// skipped.
struct PullableReader {
  template <typename... Args>
  explicit PullableReader(Args&&... args) : reader(std::forward<Args>(args)...) {}
  IpcSegmentReader reader;
  PulledBatch pulled;
};

struct PullResult {
  uint64_t rows = 0;  // rows inserted by this call
  uint64_t needPageBytes = 0;
  bool needArray = false;
  bool done = false;  // the reader has ended and every row of it is inserted
};

// The view of a decoded batch's columns `columns` (of `types`, the reader's), in that order.
BatchView projectedView(const OutputBatch& batch, const std::vector<ColumnType>& types,
                        const std::vector<uint32_t>& columns);

// `needPageBytesOf(result)` reads an operator's InsertResult's page request.
template <typename Operator, typename NeedPageBytesOf>
PullResult insertFromReader(Operator& op, PullableReader& source, const std::vector<uint32_t>& columns,
                            uint64_t maxBatches, NeedPageBytesOf needPageBytesOf) {
  IpcSegmentReader& reader = source.reader;
  PulledBatch& pulled = source.pulled;
  PullResult result;
  for (uint64_t batches = 0; batches < maxBatches;) {
    if (!pulled.active) {
      pulled.batch = reader.next();
      if (pulled.batch.numRows == 0) {
        pulled.batch = OutputBatch{};
        result.done = true;
        return result;
      }
      pulled.view = projectedView(pulled.batch, reader.types(), columns);
      pulled.nextRow = 0;
      pulled.active = true;
    }
    const auto inserted = op.insert(pulled.view, pulled.nextRow);
    result.rows += inserted.nextRow - pulled.nextRow;
    pulled.nextRow = inserted.nextRow;
    if (pulled.nextRow == pulled.view.numRows) {
      pulled = PulledBatch{};
      ++batches;
    }
    const uint64_t needPageBytes = needPageBytesOf(inserted);
    if (inserted.needArray || needPageBytes > 0) {
      result.needArray = inserted.needArray;
      result.needPageBytes = needPageBytes;
      return result;
    }
  }
  return result;
}

}  // namespace tungsten
