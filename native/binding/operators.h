// What the operators' exports (sorter.cc, aggregator.cc) share: option and batch parsing, and
// the workers every spilling operator has.
//
// An operator handle (handles.h) owns one native operator and a busy flag. Heavy calls run on
// libuv worker threads (sharp's pattern: inputs are copied or pinned before the work is
// queued, the work is plain C++, results come back without copies); while a worker uses an
// operator, every other call on it is refused (INVALID_ARGUMENT "busy"). TypeScript serialises
// calls; the flag only keeps a mistake from becoming a data race.
#pragma once

#include <napi.h>

#include <string>
#include <utility>
#include <vector>

#include "arrow_output.h"
#include "binding.h"
#include "column_types.h"
#include "handles.h"
#include "spill_file.h"

namespace tungsten::binding {

uint32_t uint32Property(Napi::Object object, const char* name);
// Element `index` of a JavaScript array, which must be an object (checked: As<> is not).
Napi::Object objectAt(Napi::Array array, uint32_t index, const char* what);
bool boolProperty(Napi::Object object, const char* name);
ColumnType columnTypeOf(Napi::Object spec);
SpillCodec codecOf(uint32_t codec);
Napi::Object runToJs(Napi::Env env, const SpillRunInfo& run);
std::vector<SpillRunInfo> runsFromJs(Napi::Value value);

// A batch's columns, borrowed from JavaScript, with the sizes the worker validates against.
// `buffers` are the typed arrays the view points into: a worker must keep each of them alive
// (KeepAlive), not only the batch object, which JavaScript could change while the worker reads.
// Valid only within the call that borrowed them.
struct BorrowedBatch {
  BatchView view;
  std::vector<size_t> valuesLength;
  std::vector<Napi::Value> buffers;
};
// Reads a batch of columns of `types`; `owner` names the operator in messages.
BorrowedBatch borrowBatch(Napi::Value value, const std::vector<ColumnType>& types, const char* owner);
// Var-width offsets must rise within the values buffer; checked on the worker, before any
// row is read, so a damaged batch cannot make native code read out of bounds.
void validateOffsets(const BorrowedBatch& batch);
// Hands the batch's malloc'd buffers to JavaScript as ArrayBuffers, without copying.
Napi::Value outputBatchToJs(Napi::Env env, OutputBatch& batch);
// Detaches ArrayBuffers that outputBatchToJs made, so that their bytes are freed now rather
// than when V8 collects them. The caller (arrowBatches.ts) passes only those, once consumed:
// a detached buffer reads as empty, and one a worker still read would be freed under it.
Napi::Value releaseOutputBuffers(const Napi::CallbackInfo& info);
// What every output batch not yet freed holds (arrow_output.h).
Napi::Value outputBytesLive(const Napi::CallbackInfo& info);
// Unmaps the freed output mappings kept for reuse (arrow_output.h).
Napi::Value releaseCachedOutputBytes(const Napi::CallbackInfo& info);

inline const char* busyMessage() { return "the operator is busy with another operation; await it first"; }

// The handle at argument `index`, open and not busy.
template <typename Handle>
Handle& operatorHandle(const Napi::CallbackInfo& info, size_t index) {
  Handle& handle = unwrap<Handle>(info, index, Handle::kArgument);
  if (!handle.op) throw HandleError{std::string("the ") + Handle::kName + " handle is closed"};
  if (handle.busy) throw Error(ErrorCode::kInvalidArgument, busyMessage());
  return handle;
}

// Base of an operator's workers: marks the operator busy for the worker's lifetime.
template <typename Handle>
class OperatorWorker : public PromiseWorker {
 public:
  OperatorWorker(const Napi::CallbackInfo& info, Handle& handle) : PromiseWorker(info.Env()), handle_(handle) {
    KeepAlive(info[0]);
    handle_.busy = true;
  }

 protected:
  void Finally() override { handle_.busy = false; }
  void recordCpuNanos(uint64_t nanos) override { handle_.workerCpuNanos.fetch_add(nanos, std::memory_order_relaxed); }
  Handle& handle_;
};

// What insert() asks for, as JavaScript sees it (InsertProgress in src/native/addon.ts): a page
// of at least needPageBytes, or a bigger array. The sorters need a page with room for a record...
template <typename InsertResult>
Napi::Value insertResultToJs(Napi::Env env, const InsertResult& result) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("nextRow", static_cast<double>(result.nextRow));
  object.Set("needPageBytes", static_cast<double>(result.needRecordBytes));
  object.Set("needArray", result.needArray);
  return object;
}
// ...the aggregation a page for its groups.
Napi::Value insertResultToJs(Napi::Env env, const HashAggregator::InsertResult& result);

// The column types of an options array (`what` names its elements in messages).
std::vector<ColumnType> columnTypesOf(Napi::Value value, const char* what);

// addDataPage(handle, page) and replacePointerArray(handle, array): hand a granted block over.
template <typename Handle>
Napi::Value operatorAddDataPage(const Napi::CallbackInfo& info) {
  operatorHandle<Handle>(info, 0).op->addDataPage(blockOf(info, 1));
  return info.Env().Undefined();
}

template <typename Handle>
Napi::Value operatorReplacePointerArray(const Napi::CallbackInfo& info) {
  operatorHandle<Handle>(info, 0).op->replacePointerArray(blockOf(info, 1));
  return info.Env().Undefined();
}

// insert(batch, startRow) -> what the operator needs to go on
template <typename Handle>
class InsertWorker : public OperatorWorker<Handle> {
 public:
  InsertWorker(const Napi::CallbackInfo& info, Handle& handle, BorrowedBatch batch, uint64_t startRow)
      : OperatorWorker<Handle>(info, handle), batch_(std::move(batch)), startRow_(startRow) {
    for (const Napi::Value& buffer : batch_.buffers) this->KeepAlive(buffer);
    batch_.buffers.clear();
  }
  void Run() override {
    validateOffsets(batch_);
    result_ = this->handle_.op->insert(batch_.view, startRow_);
  }
  Napi::Value Result(Napi::Env env) override { return insertResultToJs(env, result_); }

 private:
  BorrowedBatch batch_;
  uint64_t startRow_;
  decltype(std::declval<Handle&>().op->insert(std::declval<const BatchView&>(), 0)) result_{};
};

template <typename Handle>
Napi::Value operatorInsert(const Napi::CallbackInfo& info) {
  Handle& handle = operatorHandle<Handle>(info, 0);
  BorrowedBatch batch = borrowBatch(info[1], handle.inputTypes(), Handle::kArgument);
  const uint64_t startRow = byteCount(info, 2, "startRow");
  if (startRow > batch.view.numRows) throw Error(ErrorCode::kInvalidArgument, "startRow is past the batch");
  return (new InsertWorker<Handle>(info, handle, std::move(batch), startRow))->Queue();
}

// spill(path) -> run | null
template <typename Handle>
class SpillWorker : public OperatorWorker<Handle> {
 public:
  SpillWorker(const Napi::CallbackInfo& info, Handle& handle, std::string path)
      : OperatorWorker<Handle>(info, handle), path_(std::move(path)) {}
  void Run() override { run_ = this->handle_.op->spill(path_); }
  Napi::Value Result(Napi::Env env) override {
    return run_.records == 0 && run_.path.empty() ? env.Null() : runToJs(env, run_);
  }

 private:
  std::string path_;
  SpillRunInfo run_;
};

template <typename Handle>
class BeginOutputWorker : public OperatorWorker<Handle> {
 public:
  BeginOutputWorker(const Napi::CallbackInfo& info, Handle& handle, std::vector<SpillRunInfo> runs)
      : OperatorWorker<Handle>(info, handle), runs_(std::move(runs)) {}
  void Run() override { this->handle_.op->beginOutput(runs_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::vector<SpillRunInfo> runs_;
};

template <typename Handle>
class NextBatchWorker : public OperatorWorker<Handle> {
 public:
  NextBatchWorker(const Napi::CallbackInfo& info, Handle& handle, uint64_t maxRows)
      : OperatorWorker<Handle>(info, handle), maxRows_(maxRows) {}
  void Run() override { batch_ = this->handle_.op->nextBatch(maxRows_); }
  Napi::Value Result(Napi::Env env) override { return outputBatchToJs(env, batch_); }

 private:
  uint64_t maxRows_;
  OutputBatch batch_;
};

template <typename Handle>
class MergeRunsWorker : public OperatorWorker<Handle> {
 public:
  MergeRunsWorker(const Napi::CallbackInfo& info, Handle& handle, std::vector<SpillRunInfo> runs, std::string path)
      : OperatorWorker<Handle>(info, handle), runs_(std::move(runs)), path_(std::move(path)) {}
  void Run() override { merged_ = this->handle_.op->mergeRuns(runs_, path_); }
  Napi::Value Result(Napi::Env env) override { return runToJs(env, merged_); }

 private:
  std::vector<SpillRunInfo> runs_;
  std::string path_;
  SpillRunInfo merged_;
};

// The exports every spilling operator has, over its handle type.
template <typename Handle>
Napi::Value operatorSpill(const Napi::CallbackInfo& info) {
  Handle& handle = operatorHandle<Handle>(info, 0);
  return (new SpillWorker<Handle>(info, handle, stringArgument(info, 1, "path")))->Queue();
}

template <typename Handle>
Napi::Value operatorBeginOutput(const Napi::CallbackInfo& info) {
  Handle& handle = operatorHandle<Handle>(info, 0);
  return (new BeginOutputWorker<Handle>(info, handle, runsFromJs(info[1])))->Queue();
}

template <typename Handle>
Napi::Value operatorNextBatch(const Napi::CallbackInfo& info) {
  Handle& handle = operatorHandle<Handle>(info, 0);
  const uint64_t maxRows = byteCount(info, 1, "maxRows");
  if (maxRows == 0) throw Error(ErrorCode::kInvalidArgument, "maxRows must be at least 1");
  return (new NextBatchWorker<Handle>(info, handle, maxRows))->Queue();
}

template <typename Handle>
Napi::Value operatorMergeRuns(const Napi::CallbackInfo& info) {
  Handle& handle = operatorHandle<Handle>(info, 0);
  std::vector<SpillRunInfo> runs = runsFromJs(info[1]);
  return (new MergeRunsWorker<Handle>(info, handle, std::move(runs), stringArgument(info, 2, "path")))->Queue();
}

// Gives memory that malloc keeps after frees back to the system (glibc's malloc_trim). Output
// batches are freed on the main thread long after workers allocated them, and glibc keeps large
// freed chunks once its mmap threshold has risen; without this, the resident memory of a
// service running one job after another crept up by tens of MB per job (bench/agg.bench.ts).
void releaseFreedHeapMemory();

// Releases the native operator (its references to pages, open spill readers). Idempotent.
template <typename Handle>
Napi::Value operatorClose(const Napi::CallbackInfo& info) {
  Handle& handle = unwrap<Handle>(info, 0, Handle::kArgument);
  if (handle.busy) throw Error(ErrorCode::kInvalidArgument, busyMessage());
  if (handle.op) {
    handle.op.reset();
    releaseFreedHeapMemory();
  }
  return info.Env().Undefined();
}

}  // namespace tungsten::binding
