// Exports for the shuffle: the map side's sorter (native/core/shuffle_sorter.h) and the reduce
// side's segment reader (ipc_segment_reader.h). insert, sort, nextBatch, writeSorted and the
// reader's next return promises and run on libuv worker threads (operators.h); the rest are
// synchronous and cheap. Range bounds are read once, at creation, and copied into the
// partitioner.
#include <napi.h>

#include <string>
#include <vector>

#include "binding.h"
#include "operators.h"
#include "shuffle_sorter.h"

namespace tungsten::binding {

namespace {

ShuffleSorterHandle& shuffleHandle(const Napi::CallbackInfo& info, size_t index) {
  return operatorHandle<ShuffleSorterHandle>(info, index);
}

std::vector<uint32_t> uint32Array(Napi::Value value, const char* what) {
  std::vector<uint32_t> out;
  if (value.IsUndefined()) return out;
  if (!value.IsArray()) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value element = array.Get(i);
    if (!element.IsNumber()) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must hold numbers");
    const int64_t n = element.As<Napi::Number>().Int64Value();
    if (n < 0 || n > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must hold column indexes");
    out.push_back(static_cast<uint32_t>(n));
  }
  return out;
}

// options: { columns: ColumnType[], partitioner: { kind: 0 single | 1 round robin | 2 hash |
//   3 range, numPartitions, hashColumns?, sortKeys?: [{column, descending, nullsFirst}],
//   roundRobinStart? }, bounds?: batch (range only: numPartitions - 1 rows of the columns) }
Napi::Value shuffleSorterCreate(const Napi::CallbackInfo& info) {
  PageTableHandle& table = openTableHandle(info, 0);
  if (!info[1].IsObject()) throw Error(ErrorCode::kInvalidArgument, "options must be an object");
  Napi::Object options = info[1].As<Napi::Object>();
  Napi::Value partitionerValue = options.Get("partitioner");
  if (!partitionerValue.IsObject()) throw Error(ErrorCode::kInvalidArgument, "options.partitioner must be an object");
  std::vector<ColumnType> columns = columnTypesOf(options.Get("columns"), "column");
  Napi::Object partitioner = partitionerValue.As<Napi::Object>();
  PartitionerSpec spec;
  const uint32_t kind = uint32Property(partitioner, "kind");
  if (kind > static_cast<uint32_t>(PartitionerKind::kRange)) throw Error(ErrorCode::kInvalidArgument, "unknown partitioner kind");
  spec.kind = static_cast<PartitionerKind>(kind);
  spec.numPartitions = uint32Property(partitioner, "numPartitions");
  spec.hashColumns = uint32Array(partitioner.Get("hashColumns"), "hashColumns");
  Napi::Value start = partitioner.Get("roundRobinStart");
  if (start.IsNumber()) spec.roundRobinStart = static_cast<uint64_t>(std::max<int64_t>(0, start.As<Napi::Number>().Int64Value()));
  Napi::Value keysValue = partitioner.Get("sortKeys");
  if (keysValue.IsArray()) {
    Napi::Array keys = keysValue.As<Napi::Array>();
    for (uint32_t k = 0; k < keys.Length(); ++k) {
      Napi::Object key = objectAt(keys, k, "sort key");
      spec.sortKeys.push_back({uint32Property(key, "column"), boolProperty(key, "descending"), boolProperty(key, "nullsFirst")});
    }
  }
  Napi::Value boundsValue = options.Get("bounds");
  BorrowedBatch bounds;
  const bool hasBounds = !boundsValue.IsUndefined() && !boundsValue.IsNull();
  if (hasBounds) {
    bounds = borrowBatch(boundsValue, columns, "shuffle sorter");
    validateOffsets(bounds);
  }
  auto* handle = new ShuffleSorterHandle{
      std::make_unique<ShuffleSorter>(std::move(columns), std::move(spec), hasBounds ? &bounds.view : nullptr, table.table)};
  return wrapHandle(info.Env(), handle);
}

Napi::Value shuffleSorterReset(const Napi::CallbackInfo& info) {
  shuffleHandle(info, 0).op->reset();
  return info.Env().Undefined();
}

class SortWorker : public OperatorWorker<ShuffleSorterHandle> {
 public:
  using OperatorWorker::OperatorWorker;
  void Run() override { handle_.op->sort(); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }
};

Napi::Value shuffleSorterSort(const Napi::CallbackInfo& info) {
  return (new SortWorker(info, shuffleHandle(info, 0)))->Queue();
}

class PartitionBatchWorker : public OperatorWorker<ShuffleSorterHandle> {
 public:
  PartitionBatchWorker(const Napi::CallbackInfo& info, ShuffleSorterHandle& handle, uint64_t maxRows)
      : OperatorWorker(info, handle), maxRows_(maxRows) {}
  void Run() override { result_ = handle_.op->nextBatch(maxRows_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object object = Napi::Object::New(env);
    object.Set("partition", static_cast<double>(result_.partition));
    object.Set("batch", outputBatchToJs(env, result_.batch));
    return object;
  }

 private:
  uint64_t maxRows_;
  ShuffleSorter::PartitionBatch result_;
};

Napi::Value shuffleSorterNextBatch(const Napi::CallbackInfo& info) {
  ShuffleSorterHandle& handle = shuffleHandle(info, 0);
  const uint64_t maxRows = byteCount(info, 1, "maxRows");
  if (maxRows == 0) throw Error(ErrorCode::kInvalidArgument, "maxRows must be at least 1");
  return (new PartitionBatchWorker(info, handle, maxRows))->Queue();
}

// writeSorted(handle, files: [{fd, offset, path}], maxRows, compress, writeBufferBytes) -> bytes
// per partition.
// The files are JavaScript's open FileHandles' descriptors; it neither reads nor closes them
// until the promise settles.
class WriteSortedWorker : public OperatorWorker<ShuffleSorterHandle> {
 public:
  WriteSortedWorker(const Napi::CallbackInfo& info, ShuffleSorterHandle& handle,
                    std::vector<ShuffleSorter::PartitionFile> files, uint64_t maxRows, IpcCompression compression,
                    uint64_t writeBufferBytes)
      : OperatorWorker(info, handle),
        files_(std::move(files)),
        maxRows_(maxRows),
        compression_(compression),
        writeBufferBytes_(writeBufferBytes) {}
  void Run() override { written_ = handle_.op->writeSorted(files_, maxRows_, compression_, writeBufferBytes_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, written_.size());
    for (uint32_t p = 0; p < written_.size(); ++p) out.Set(p, static_cast<double>(written_[p]));
    return out;
  }

 private:
  std::vector<ShuffleSorter::PartitionFile> files_;
  uint64_t maxRows_;
  IpcCompression compression_;
  uint64_t writeBufferBytes_;
  std::vector<uint64_t> written_;
};

Napi::Value shuffleSorterWriteSorted(const Napi::CallbackInfo& info) {
  ShuffleSorterHandle& handle = shuffleHandle(info, 0);
  if (!info[1].IsArray()) throw Error(ErrorCode::kInvalidArgument, "files must be an array");
  Napi::Array array = info[1].As<Napi::Array>();
  std::vector<ShuffleSorter::PartitionFile> files;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Object file = objectAt(array, i, "file");
    ShuffleSorter::PartitionFile entry;
    entry.fd = static_cast<int>(uint32Property(file, "fd"));
    entry.offset = byteCount(file.Get("offset"), "offset");
    entry.path = file.Get("path").ToString().Utf8Value();
    files.push_back(std::move(entry));
  }
  const uint64_t maxRows = byteCount(info, 2, "maxRows");
  if (maxRows == 0) throw Error(ErrorCode::kInvalidArgument, "maxRows must be at least 1");
  const IpcCompression compression = info[3].ToBoolean().Value() ? IpcCompression::kLz4Frame : IpcCompression::kNone;
  const uint64_t writeBufferBytes = byteCount(info, 4, "writeBufferBytes");
  return (new WriteSortedWorker(info, handle, std::move(files), maxRows, compression, writeBufferBytes))->Queue();
}

// segmentReaderOpen(path, offset, length, columns) -> handle
Napi::Value segmentReaderOpen(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Error(ErrorCode::kInvalidArgument, "path must be a string");
  const uint64_t offset = byteCount(info, 1, "offset");
  const uint64_t length = byteCount(info, 2, "length");
  std::vector<ColumnType> columns = columnTypesOf(info[3], "column");
  auto* handle = new SegmentReaderHandle{
      std::make_unique<IpcSegmentReader>(info[0].As<Napi::String>().Utf8Value(), offset, length, std::move(columns))};
  return wrapHandle(info.Env(), handle);
}

class SegmentNextWorker : public OperatorWorker<SegmentReaderHandle> {
 public:
  using OperatorWorker::OperatorWorker;
  void Run() override { batch_ = handle_.op->next(); }
  Napi::Value Result(Napi::Env env) override { return outputBatchToJs(env, batch_); }

 private:
  OutputBatch batch_;
};

Napi::Value segmentReaderNext(const Napi::CallbackInfo& info) {
  return (new SegmentNextWorker(info, operatorHandle<SegmentReaderHandle>(info, 0)))->Queue();
}

// The CPU time of the reader's decoding so far (its next() calls' worker threads).
Napi::Value segmentReaderCpuNanos(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(operatorHandle<SegmentReaderHandle>(info, 0).workerCpuNanos.load()));
}

Napi::Value shuffleSorterState(const Napi::CallbackInfo& info) {
  ShuffleSorterHandle& handle = shuffleHandle(info, 0);
  ShuffleSorter& sorter = *handle.op;
  return numbersObject(info.Env(), {{"records", static_cast<double>(sorter.numRecords())},
                                    {"workerCpuNanos", static_cast<double>(handle.workerCpuNanos.load())},
                                    {"dataPages", static_cast<double>(sorter.numDataPages())},
                                    {"pointerArrayBytes", static_cast<double>(sorter.pointerArrayBytes())},
                                    {"rowsInserted", static_cast<double>(sorter.metrics().rowsInserted)},
                                    {"sortTimeNs", static_cast<double>(sorter.metrics().sortTimeNs)}});
}

}  // namespace

void registerShuffleExports(Napi::Env env, Napi::Object exports) {
  addExport(env, exports, "shuffleSorterCreate", guarded<shuffleSorterCreate>);
  addExport(env, exports, "shuffleSorterAddDataPage", guarded<operatorAddDataPage<ShuffleSorterHandle>>);
  addExport(env, exports, "shuffleSorterReplacePointerArray", guarded<operatorReplacePointerArray<ShuffleSorterHandle>>);
  addExport(env, exports, "shuffleSorterInsert", guarded<operatorInsert<ShuffleSorterHandle>>);
  addExport(env, exports, "shuffleSorterSort", guarded<shuffleSorterSort>);
  addExport(env, exports, "shuffleSorterNextBatch", guarded<shuffleSorterNextBatch>);
  addExport(env, exports, "shuffleSorterReset", guarded<shuffleSorterReset>);
  addExport(env, exports, "shuffleSorterState", guarded<shuffleSorterState>);
  addExport(env, exports, "shuffleSorterClose", guarded<operatorClose<ShuffleSorterHandle>>);
  addExport(env, exports, "shuffleSorterWriteSorted", guarded<shuffleSorterWriteSorted>);
  addExport(env, exports, "segmentReaderOpen", guarded<segmentReaderOpen>);
  addExport(env, exports, "segmentReaderNext", guarded<segmentReaderNext>);
  addExport(env, exports, "segmentReaderCpuNanos", guarded<segmentReaderCpuNanos>);
  addExport(env, exports, "segmentReaderClose", guarded<operatorClose<SegmentReaderHandle>>);
}

}  // namespace tungsten::binding
