// Handles crossing the N-API boundary, checked on every call (binding.h's unwrap).
//
// A handle is a JavaScript External tagged with its type (napi_type_tag), so that passing a
// page-table handle where a block is expected, or any other object, throws INVALID_HANDLE
// instead of reinterpreting memory. A closed handle keeps its External alive but holds nothing,
// and using it throws INVALID_HANDLE too.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <vector>

#include "batch_pull.h"
#include "bypass_writer.h"
#include "external_sorter.h"
#include "hash_aggregator.h"
#include "ipc_segment_reader.h"
#include "memory_block.h"
#include "shuffle_sorter.h"
#include "task_page_table.h"

namespace tungsten::binding {

struct PageTableHandle {
  static constexpr napi_type_tag kTag = {0x7a1c5e0b9d3f4e21ull, 0x8b6a2f1e0c4d3b59ull};
  static constexpr const char* kName = "PageTable";
  // Shared with the task's sorters, which resolve record addresses through it.
  std::shared_ptr<TaskPageTable> table;
};

struct BlockHandle {
  static constexpr napi_type_tag kTag = {0x3e9d2c7b1a0f4865ull, 0x9f8e7d6c5b4a3921ull};
  static constexpr const char* kName = "MemoryBlock";
  std::shared_ptr<MemoryBlock> block;
};

struct SorterHandle {
  static constexpr napi_type_tag kTag = {0x51d0c4e2a9b87f36ull, 0x2c7e9a1b5d3f6e08ull};
  static constexpr const char* kName = "Sorter";
  static constexpr const char* kArgument = "sorter";
  std::unique_ptr<ExternalSorter> op;
  // True while a worker thread uses the sorter; every other call is refused meanwhile.
  // CPU time of the operator's worker threads, summed (read on the main thread meanwhile).
  std::atomic<uint64_t> workerCpuNanos{0};
  bool busy = false;
  // The column types of an input batch.
  const std::vector<ColumnType>& inputTypes() const { return op->layout().columns(); }
};

struct AggregatorHandle {
  static constexpr napi_type_tag kTag = {0x6f2b8d4e1c9a3075ull, 0xa4c61e5f3b7d2098ull};
  static constexpr const char* kName = "Aggregator";
  static constexpr const char* kArgument = "aggregator";
  std::unique_ptr<HashAggregator> op;
  // CPU time of the operator's worker threads, summed (read on the main thread meanwhile).
  std::atomic<uint64_t> workerCpuNanos{0};
  bool busy = false;
  // The input batch's column types: keys, then what the aggregates read (or, final mode, the
  // partial aggregation's buffers).
  std::vector<ColumnType> inputColumnTypes;
  const std::vector<ColumnType>& inputTypes() const { return inputColumnTypes; }
};

struct ShuffleSorterHandle {
  static constexpr napi_type_tag kTag = {0x0d4c8e2f7a6b1953ull, 0xe1f3a5c7092b4d68ull};
  static constexpr const char* kName = "ShuffleSorter";
  static constexpr const char* kArgument = "shuffle sorter";
  std::unique_ptr<ShuffleSorter> op;
  // CPU time of the operator's worker threads, summed (read on the main thread meanwhile).
  std::atomic<uint64_t> workerCpuNanos{0};
  bool busy = false;
  const std::vector<ColumnType>& inputTypes() const { return op->layout().columns(); }
};

struct BypassWriterHandle {
  static constexpr napi_type_tag kTag = {0x2f8a4c6e0b1d3957ull, 0xc7e5a3f1d9b20468ull};
  static constexpr const char* kName = "BypassWriter";
  static constexpr const char* kArgument = "bypass writer";
  std::unique_ptr<BypassWriter> op;
  // CPU time of the writer's worker threads, summed (read on the main thread meanwhile).
  std::atomic<uint64_t> workerCpuNanos{0};
  bool busy = false;
  const std::vector<ColumnType>& inputTypes() const { return op->columns(); }
};

struct SegmentReaderHandle {
  static constexpr napi_type_tag kTag = {0x9b3e6d1a4f2c8057ull, 0x5a0d7c3e1b9f4862ull};
  static constexpr const char* kName = "SegmentReader";
  static constexpr const char* kArgument = "segment reader";
  // The reader, with the batch an operator was inserting from it when it stopped for memory
  // (batch_pull.h).
  std::unique_ptr<PullableReader> op;
  // CPU time of the reader's worker threads, summed (read on the main thread meanwhile).
  std::atomic<uint64_t> workerCpuNanos{0};
  bool busy = false;
};

template <typename Handle>
Napi::External<Handle> wrapHandle(Napi::Env env, Handle* handle) {
  auto external = Napi::External<Handle>::New(env, handle, [](Napi::Env, Handle* h) { delete h; });
  external.TypeTag(&Handle::kTag);
  return external;
}

}  // namespace tungsten::binding
