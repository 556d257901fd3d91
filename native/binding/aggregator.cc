// Exports for the hash aggregation. Heavy calls (adoptSlotArray, insert, spill, beginOutput,
// nextBatch, mergeRuns) return promises and run on libuv worker threads (operators.h); the rest are
// synchronous and cheap.
#include <napi.h>

#include <string>
#include <vector>

#include "aggregate_functions.h"
#include "batch_pull.h"
#include "binding.h"
#include "hash_aggregator.h"
#include "operators.h"

namespace tungsten::binding {

Napi::Value insertResultToJs(Napi::Env env, const HashAggregator::InsertResult& result) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("nextRow", static_cast<double>(result.nextRow));
  object.Set("needPageBytes", static_cast<double>(result.needPageBytes));
  object.Set("needArray", result.needArray);
  return object;
}

namespace {

bool sameType(const ColumnType& a, const ColumnType& b) {
  return a.physical == b.physical && a.width == b.width;
}

// options: { inputTypes: ColumnType[], numKeys, mode: 0 partial | 1 final | 2 complete,
//   aggregates: [{ function: 0 count(*) | 1 count | 2 sum | 3 min | 4 max | 5 avg,
//                  inputColumn, name }], codec, spillBlockBytes }
Napi::Value aggregatorCreate(const Napi::CallbackInfo& info) {
  PageTableHandle& table = openTableHandle(info, 0);
  if (!info[1].IsObject()) throw Error(ErrorCode::kInvalidArgument, "options must be an object");
  Napi::Object options = info[1].As<Napi::Object>();
  Napi::Value aggregatesValue = options.Get("aggregates");
  if (!aggregatesValue.IsArray()) throw Error(ErrorCode::kInvalidArgument, "options.aggregates must be an array");
  std::vector<ColumnType> inputTypes = columnTypesOf(options.Get("inputTypes"), "input type");
  const uint32_t numKeys = uint32Property(options, "numKeys");
  if (numKeys > inputTypes.size()) throw Error(ErrorCode::kInvalidArgument, "numKeys exceeds the input's columns");
  const uint32_t mode = uint32Property(options, "mode");
  if (mode > static_cast<uint32_t>(AggregationMode::kComplete)) {
    throw Error(ErrorCode::kInvalidArgument, "mode must be 0 (partial), 1 (final) or 2 (complete)");
  }

  AggregatorOptions aggregatorOptions;
  aggregatorOptions.mode = static_cast<AggregationMode>(mode);
  aggregatorOptions.keyColumns.assign(inputTypes.begin(), inputTypes.begin() + numKeys);
  aggregatorOptions.inputColumns = static_cast<uint32_t>(inputTypes.size());
  Napi::Array aggregates = aggregatesValue.As<Napi::Array>();
  for (uint32_t a = 0; a < aggregates.Length(); ++a) {
    Napi::Object object = objectAt(aggregates, a, "aggregate");
    AggregateSpec spec;
    const uint32_t function = uint32Property(object, "function");
    if (function > static_cast<uint32_t>(AggregateFunction::kAvg)) {
      throw Error(ErrorCode::kInvalidArgument, "unknown aggregate function " + std::to_string(function));
    }
    spec.function = static_cast<AggregateFunction>(function);
    spec.inputColumn = uint32Property(object, "inputColumn");
    if (!object.Get("name").IsString()) throw Error(ErrorCode::kInvalidArgument, "an aggregate needs a name");
    spec.name = object.Get("name").As<Napi::String>().Utf8Value();
    if (spec.function != AggregateFunction::kCountStar) {
      if (spec.inputColumn >= inputTypes.size()) {
        throw Error(ErrorCode::kInvalidArgument, spec.name + " reads column " + std::to_string(spec.inputColumn) +
                                                     ", which the input does not have");
      }
      spec.inputType = inputTypes[spec.inputColumn];
    }
    aggregatorOptions.aggregates.push_back(std::move(spec));
  }
  if (aggregatorOptions.mode == AggregationMode::kFinal) {
    // The final aggregation reads the partial one's output: keys, then its buffer columns.
    const std::vector<BufferColumn> buffers = bufferColumns(aggregatorOptions.aggregates);
    bool ok = inputTypes.size() == numKeys + buffers.size();
    for (size_t b = 0; ok && b < buffers.size(); ++b) ok = sameType(inputTypes[numKeys + b], buffers[b].type);
    if (!ok) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the final aggregation's input must be the keys followed by the partial aggregation's buffers");
    }
  }
  aggregatorOptions.codec = codecOf(uint32Property(options, "codec"));
  aggregatorOptions.spillBlockBytes = uint32Property(options, "spillBlockBytes");
  if (aggregatorOptions.spillBlockBytes < 1024) {
    throw Error(ErrorCode::kInvalidArgument, "spillBlockBytes must be at least 1024");
  }
  auto* handle = new AggregatorHandle{std::make_unique<HashAggregator>(std::move(aggregatorOptions), table.table)};
  handle->inputColumnTypes = std::move(inputTypes);
  return wrapHandle(info.Env(), handle);
}

AggregatorHandle& aggregatorHandle(const Napi::CallbackInfo& info) { return operatorHandle<AggregatorHandle>(info, 0); }

// adoptSlotArray(handle, array): on a worker, as it rehashes every group in memory into the new
// array (a final aggregation's map growing to 500 K groups spent ~30 ms a task doing that on the
// event loop, stalling the other core's task). A page that is not the task's is refused before
// anything is queued.
class AdoptSlotArrayWorker : public OperatorWorker<AggregatorHandle> {
 public:
  AdoptSlotArrayWorker(const Napi::CallbackInfo& info, AggregatorHandle& handle, std::shared_ptr<MemoryBlock> array)
      : OperatorWorker<AggregatorHandle>(info, handle), array_(std::move(array)) {
    KeepAlive(info[1]);
  }
  void Run() override { handle_.op->adoptSlotArray(std::move(array_)); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<MemoryBlock> array_;
};

Napi::Value aggregatorAdoptSlotArray(const Napi::CallbackInfo& info) {
  AggregatorHandle& handle = aggregatorHandle(info);
  std::shared_ptr<MemoryBlock> array = blockOf(info, 1);
  handle.op->checkSlotArray(*array);
  return (new AdoptSlotArrayWorker(info, handle, std::move(array)))->Queue();
}

// insertFromReader(aggregator, reader, columns, maxBatches) -> ReaderInsertProgress: reads the
// reader's batches and inserts their `columns` (the aggregation's input columns, in its order)
// on one worker, batch_pull.h. The reader is busy too while the worker runs: nothing else may
// read it. Its decoding CPU counts as the aggregation's.
class InsertFromReaderWorker : public OperatorWorker<AggregatorHandle> {
 public:
  InsertFromReaderWorker(const Napi::CallbackInfo& info, AggregatorHandle& handle, SegmentReaderHandle& reader,
                         std::vector<uint32_t> columns, uint64_t maxBatches)
      : OperatorWorker<AggregatorHandle>(info, handle), reader_(reader), columns_(std::move(columns)), maxBatches_(maxBatches) {
    KeepAlive(info[1]);
    reader_.busy = true;
  }
  void Run() override {
    result_ = insertFromReader(*handle_.op, *reader_.op, columns_, maxBatches_,
                               [](const HashAggregator::InsertResult& r) { return r.needPageBytes; });
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object progress = Napi::Object::New(env);
    progress.Set("rows", static_cast<double>(result_.rows));
    progress.Set("needPageBytes", static_cast<double>(result_.needPageBytes));
    progress.Set("needArray", result_.needArray);
    progress.Set("done", result_.done);
    return progress;
  }

 protected:
  void Finally() override {
    OperatorWorker<AggregatorHandle>::Finally();
    reader_.busy = false;
  }

 private:
  SegmentReaderHandle& reader_;
  std::vector<uint32_t> columns_;
  uint64_t maxBatches_;
  PullResult result_;
};

Napi::Value aggregatorInsertFromReader(const Napi::CallbackInfo& info) {
  AggregatorHandle& handle = aggregatorHandle(info);
  SegmentReaderHandle& reader = operatorHandle<SegmentReaderHandle>(info, 1);
  if (!info[2].IsArray()) throw Error(ErrorCode::kInvalidArgument, "columns must be an array of the reader's column indices");
  Napi::Array array = info[2].As<Napi::Array>();
  const std::vector<ColumnType>& readerTypes = reader.op->reader.types();
  const std::vector<ColumnType>& inputTypes = handle.inputTypes();
  if (array.Length() != inputTypes.size()) {
    throw Error(ErrorCode::kInvalidArgument, "the aggregation takes " + std::to_string(inputTypes.size()) +
                                                 " input columns, columns names " + std::to_string(array.Length()));
  }
  std::vector<uint32_t> columns;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const uint64_t column = byteCount(array.Get(i), "columns");
    if (column >= readerTypes.size() || !sameType(readerTypes[column], inputTypes[i])) {
      throw Error(ErrorCode::kInvalidArgument, "input column " + std::to_string(i) +
                                                   " is not a column of the reader of the aggregation's type");
    }
    columns.push_back(static_cast<uint32_t>(column));
  }
  const uint64_t maxBatches = byteCount(info, 3, "maxBatches");
  if (maxBatches == 0) throw Error(ErrorCode::kInvalidArgument, "maxBatches must be at least 1");
  return (new InsertFromReaderWorker(info, handle, reader, std::move(columns), maxBatches))->Queue();
}

Napi::Value aggregatorState(const Napi::CallbackInfo& info) {
  HashAggregator& aggregator = *aggregatorHandle(info).op;
  Napi::Object state = Napi::Object::New(info.Env());
  state.Set("groupsInMemory", static_cast<double>(aggregator.numGroupsInMemory()));
  state.Set("slotArrayCapacity", static_cast<double>(aggregator.slotArrayCapacity()));
  state.Set("dataPages", static_cast<double>(aggregator.numDataPages()));
  state.Set("outputStarted", aggregator.outputStarted());
  state.Set("outputReadsMemory", aggregator.outputReadsMemory());
  return state;
}

Napi::Value aggregatorMetrics(const Napi::CallbackInfo& info) {
  AggregatorHandle& handle = aggregatorHandle(info);
  const AggregatorMetrics m = handle.op->metrics();
  return numbersObject(info.Env(), {{"rowsIn", static_cast<double>(m.rowsIn)},
                                    {"workerCpuNanos", static_cast<double>(handle.workerCpuNanos.load())},
                                    {"groupsOut", static_cast<double>(m.groupsOut)},
                                    {"spillCount", static_cast<double>(m.spillCount)},
                                    {"diskBytesSpilled", static_cast<double>(m.diskBytesSpilled)},
                                    {"keyLookups", static_cast<double>(m.keyLookups)},
                                    {"hashProbes", static_cast<double>(m.hashProbes)},
                                    {"mergePasses", static_cast<double>(m.mergePasses)},
                                    {"sortTimeNs", static_cast<double>(m.sortTimeNs)},
                                    {"spillWriteTimeNs", static_cast<double>(m.spillWriteTimeNs)}});
}

}  // namespace

void registerAggregatorExports(Napi::Env env, Napi::Object exports) {
  addExport(env, exports, "aggregatorCreate", guarded<aggregatorCreate>);
  addExport(env, exports, "aggregatorAddDataPage", guarded<operatorAddDataPage<AggregatorHandle>>);
  addExport(env, exports, "aggregatorAdoptSlotArray", guarded<aggregatorAdoptSlotArray>);
  addExport(env, exports, "aggregatorInsert", guarded<operatorInsert<AggregatorHandle>>);
  addExport(env, exports, "aggregatorInsertFromReader", guarded<aggregatorInsertFromReader>);
  addExport(env, exports, "aggregatorSpill", guarded<operatorSpill<AggregatorHandle>>);
  addExport(env, exports, "aggregatorBeginOutput", guarded<operatorBeginOutput<AggregatorHandle>>);
  addExport(env, exports, "aggregatorNextBatch", guarded<operatorNextBatch<AggregatorHandle>>);
  addExport(env, exports, "aggregatorMergeRuns", guarded<operatorMergeRuns<AggregatorHandle>>);
  addExport(env, exports, "aggregatorState", guarded<aggregatorState>);
  addExport(env, exports, "aggregatorMetrics", guarded<aggregatorMetrics>);
  addExport(env, exports, "aggregatorClose", guarded<operatorClose<AggregatorHandle>>);
}

}  // namespace tungsten::binding
