// Exports for the shuffle: the map side's sorter (native/core/shuffle_sorter.h) and bypass
// writer (bypass_writer.h), and the reduce side's segment reader (ipc_segment_reader.h).
// insert, sort, nextBatch, writeSorted, the bypass writer's write, flush and writeDataFile, and
// the reader's next return promises and run on libuv worker threads (operators.h); the rest are
// synchronous and cheap. Range bounds are read once, at creation, and copied into the
// partitioner.
#include <napi.h>

#include <optional>
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

// A partitioner's options: { partitioner: { kind: 0 single | 1 round robin | 2 hash | 3 range,
//   numPartitions, hashColumns?, sortKeys?: [{column, descending, nullsFirst}],
//   roundRobinStart? }, bounds?: batch (range only: numPartitions - 1 rows of the columns) }.
// The bounds are borrowed: the partitioner copies them when it is made.
struct PartitionerOptions {
  PartitionerSpec spec;
  BorrowedBatch bounds;
  bool hasBounds = false;
  const BatchView* boundsView() const { return hasBounds ? &bounds.view : nullptr; }
};

PartitionerOptions partitionerOptionsOf(Napi::Object options, const std::vector<ColumnType>& columns, const char* what) {
  Napi::Value partitionerValue = options.Get("partitioner");
  if (!partitionerValue.IsObject()) throw Error(ErrorCode::kInvalidArgument, "options.partitioner must be an object");
  Napi::Object partitioner = partitionerValue.As<Napi::Object>();
  PartitionerOptions out;
  PartitionerSpec& spec = out.spec;
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
  out.hasBounds = !boundsValue.IsUndefined() && !boundsValue.IsNull();
  if (out.hasBounds) {
    out.bounds = borrowBatch(boundsValue, columns, what);
    validateOffsets(out.bounds);
  }
  return out;
}

// [{fd, offset, path}]: JavaScript's open FileHandles' descriptors, which native code neither
// reads nor closes until the call using them settles.
std::vector<PartitionFile> partitionFilesOf(Napi::Value value) {
  if (!value.IsArray()) throw Error(ErrorCode::kInvalidArgument, "files must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<PartitionFile> files;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Object file = objectAt(array, i, "file");
    PartitionFile entry;
    entry.fd = static_cast<int>(uint32Property(file, "fd"));
    entry.offset = byteCount(file.Get("offset"), "offset");
    entry.path = file.Get("path").ToString().Utf8Value();
    files.push_back(std::move(entry));
  }
  return files;
}

// options: { columns: ColumnType[], partitioner, bounds? } (partitionerOptionsOf)
Napi::Value shuffleSorterCreate(const Napi::CallbackInfo& info) {
  PageTableHandle& table = openTableHandle(info, 0);
  if (!info[1].IsObject()) throw Error(ErrorCode::kInvalidArgument, "options must be an object");
  Napi::Object options = info[1].As<Napi::Object>();
  std::vector<ColumnType> columns = columnTypesOf(options.Get("columns"), "column");
  PartitionerOptions partitioner = partitionerOptionsOf(options, columns, "shuffle sorter");
  auto* handle = new ShuffleSorterHandle{
      std::make_unique<ShuffleSorter>(std::move(columns), std::move(partitioner.spec), partitioner.boundsView(), table.table)};
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

// writeSorted(handle, file: [one of partitionFilesOf], maxRows, compress, writeBufferBytes) ->
// bytes per partition.
class WriteSortedWorker : public OperatorWorker<ShuffleSorterHandle> {
 public:
  WriteSortedWorker(const Napi::CallbackInfo& info, ShuffleSorterHandle& handle,
                    PartitionFile file, uint64_t maxRows, IpcCompression compression,
                    uint64_t writeBufferBytes)
      : OperatorWorker(info, handle),
        file_(std::move(file)),
        maxRows_(maxRows),
        compression_(compression),
        writeBufferBytes_(writeBufferBytes) {}
  void Run() override { written_ = handle_.op->writeSorted(file_, maxRows_, compression_, writeBufferBytes_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, written_.size());
    for (uint32_t p = 0; p < written_.size(); ++p) out.Set(p, static_cast<double>(written_[p]));
    return out;
  }

 private:
  PartitionFile file_;
  uint64_t maxRows_;
  IpcCompression compression_;
  uint64_t writeBufferBytes_;
  std::vector<uint64_t> written_;
};

Napi::Value shuffleSorterWriteSorted(const Napi::CallbackInfo& info) {
  ShuffleSorterHandle& handle = shuffleHandle(info, 0);
  std::vector<PartitionFile> files = partitionFilesOf(info[1]);
  if (files.size() != 1) throw Error(ErrorCode::kInvalidArgument, "writeSorted writes one file");
  const uint64_t maxRows = byteCount(info, 2, "maxRows");
  if (maxRows == 0) throw Error(ErrorCode::kInvalidArgument, "maxRows must be at least 1");
  const IpcCompression compression = info[3].ToBoolean().Value() ? IpcCompression::kLz4Frame : IpcCompression::kNone;
  const uint64_t writeBufferBytes = byteCount(info, 4, "writeBufferBytes");
  return (new WriteSortedWorker(info, handle, std::move(files[0]), maxRows, compression, writeBufferBytes))->Queue();
}

// bypassWriterCreate(table, { columns, partitioner, bounds? (partitionerOptionsOf), maxRows,
//   compress, schemaMessage: Uint8Array }) -> handle
Napi::Value bypassWriterCreate(const Napi::CallbackInfo& info) {
  PageTableHandle& table = openTableHandle(info, 0);
  if (!info[1].IsObject()) throw Error(ErrorCode::kInvalidArgument, "options must be an object");
  Napi::Object options = info[1].As<Napi::Object>();
  std::vector<ColumnType> columns = columnTypesOf(options.Get("columns"), "column");
  PartitionerOptions partitioner = partitionerOptionsOf(options, columns, "bypass writer");
  const uint64_t maxRows = byteCount(options.Get("maxRows"), "maxRows");
  const IpcCompression compression = boolProperty(options, "compress") ? IpcCompression::kLz4Frame : IpcCompression::kNone;
  const Bytes schema = typedArrayBytes(options.Get("schemaMessage"), "schemaMessage");
  auto* handle = new BypassWriterHandle{std::make_unique<BypassWriter>(
      std::move(columns), std::move(partitioner.spec), partitioner.boundsView(), table.table, maxRows, compression,
      std::vector<uint8_t>(schema.data, schema.data + schema.length))};
  return wrapHandle(info.Env(), handle);
}

BypassWriter& bypassWriter(const Napi::CallbackInfo& info) { return *operatorHandle<BypassWriterHandle>(info, 0).op; }

Napi::Value bypassWriterSetFiles(const Napi::CallbackInfo& info) {
  bypassWriter(info).setFiles(partitionFilesOf(info[1]));
  return info.Env().Undefined();
}

Napi::Value bypassWriterSetBuffer(const Napi::CallbackInfo& info) {
  bypassWriter(info).setBuffer(blockOf(info, 1));
  return info.Env().Undefined();
}

Napi::Value bypassWriterState(const Napi::CallbackInfo& info) {
  BypassWriterHandle& handle = operatorHandle<BypassWriterHandle>(info, 0);
  const BypassWriter& writer = *handle.op;
  return numbersObject(info.Env(), {{"minimumBufferBytes", static_cast<double>(writer.minimumBufferBytes())},
                                    {"preferredBufferBytes", static_cast<double>(writer.preferredBufferBytes())},
                                    {"hasBuffer", writer.hasBuffer() ? 1.0 : 0.0},
                                    {"bufferedRows", static_cast<double>(writer.bufferedRows())},
                                    {"rowsWritten", static_cast<double>(writer.metrics().rowsWritten)},
                                    {"messagesWritten", static_cast<double>(writer.metrics().messagesWritten)},
                                    {"workerCpuNanos", static_cast<double>(handle.workerCpuNanos.load())}});
}

// write(handle, batch): places every row, writing full partitions.
class BypassWriteWorker : public OperatorWorker<BypassWriterHandle> {
 public:
  BypassWriteWorker(const Napi::CallbackInfo& info, BypassWriterHandle& handle, BorrowedBatch batch)
      : OperatorWorker(info, handle), batch_(std::move(batch)) {
    for (const Napi::Value& buffer : batch_.buffers) KeepAlive(buffer);
    batch_.buffers.clear();
  }
  void Run() override {
    validateOffsets(batch_);
    handle_.op->write(batch_.view);
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  BorrowedBatch batch_;
};

Napi::Value bypassWriterWrite(const Napi::CallbackInfo& info) {
  BypassWriterHandle& handle = operatorHandle<BypassWriterHandle>(info, 0);
  BorrowedBatch batch = borrowBatch(info[1], handle.inputTypes(), BypassWriterHandle::kArgument);
  return (new BypassWriteWorker(info, handle, std::move(batch)))->Queue();
}

// flush(handle) -> bytes written; the buffer block is dropped.
class BypassFlushWorker : public OperatorWorker<BypassWriterHandle> {
 public:
  using OperatorWorker::OperatorWorker;
  void Run() override { bytes_ = handle_.op->flush(); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(bytes_)); }

 private:
  uint64_t bytes_ = 0;
};

Napi::Value bypassWriterFlush(const Napi::CallbackInfo& info) {
  return (new BypassFlushWorker(info, operatorHandle<BypassWriterHandle>(info, 0)))->Queue();
}

// writeDataFile(handle, {fd, offset (0), path}) -> { lengths, checksums }
class BypassDataFileWorker : public OperatorWorker<BypassWriterHandle> {
 public:
  BypassDataFileWorker(const Napi::CallbackInfo& info, BypassWriterHandle& handle, PartitionFile file)
      : OperatorWorker(info, handle), file_(std::move(file)) {}
  void Run() override { segments_ = handle_.op->writeDataFile(file_.fd, file_.path); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    Napi::Array lengths = Napi::Array::New(env, segments_.lengths.size());
    Napi::Array checksums = Napi::Array::New(env, segments_.checksums.size());
    for (uint32_t p = 0; p < segments_.lengths.size(); ++p) {
      lengths.Set(p, static_cast<double>(segments_.lengths[p]));
      checksums.Set(p, static_cast<double>(segments_.checksums[p]));
    }
    out.Set("lengths", lengths);
    out.Set("checksums", checksums);
    return out;
  }

 private:
  PartitionFile file_;
  BypassWriter::Segments segments_;
};

Napi::Value bypassWriterWriteDataFile(const Napi::CallbackInfo& info) {
  BypassWriterHandle& handle = operatorHandle<BypassWriterHandle>(info, 0);
  std::vector<PartitionFile> file = partitionFilesOf(info[1]);
  if (file.size() != 1 || file[0].offset != 0) throw Error(ErrorCode::kInvalidArgument, "the data file is one file, written from offset 0");
  return (new BypassDataFileWorker(info, handle, std::move(file[0])))->Queue();
}

// segmentReaderOpen(path, offset, length, columns, expectedCrc?) -> handle
Napi::Value segmentReaderOpen(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Error(ErrorCode::kInvalidArgument, "path must be a string");
  const uint64_t offset = byteCount(info, 1, "offset");
  const uint64_t length = byteCount(info, 2, "length");
  std::vector<ColumnType> columns = columnTypesOf(info[3], "column");
  std::optional<uint32_t> expectedCrc;
  if (!info[4].IsUndefined()) {
    const uint64_t crc = byteCount(info, 4, "expectedCrc");
    if (crc > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, "expectedCrc must be a CRC-32");
    expectedCrc = static_cast<uint32_t>(crc);
  }
  auto* handle = new SegmentReaderHandle{std::make_unique<PullableReader>(info[0].As<Napi::String>().Utf8Value(), offset,
                                                                          length, std::move(columns), expectedCrc)};
  return wrapHandle(info.Env(), handle);
}

class SegmentNextWorker : public OperatorWorker<SegmentReaderHandle> {
 public:
  using OperatorWorker::OperatorWorker;
  void Run() override {
    // The rest of a batch an operator stopped inserting would be skipped.
    if (handle_.op->pulled.active) {
      throw Error(ErrorCode::kInvalidArgument, "an operator is inserting this reader's batches; it must finish them first");
    }
    batch_ = handle_.op->reader.next();
  }
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
  addExport(env, exports, "bypassWriterCreate", guarded<bypassWriterCreate>);
  addExport(env, exports, "bypassWriterSetFiles", guarded<bypassWriterSetFiles>);
  addExport(env, exports, "bypassWriterSetBuffer", guarded<bypassWriterSetBuffer>);
  addExport(env, exports, "bypassWriterState", guarded<bypassWriterState>);
  addExport(env, exports, "bypassWriterWrite", guarded<bypassWriterWrite>);
  addExport(env, exports, "bypassWriterFlush", guarded<bypassWriterFlush>);
  addExport(env, exports, "bypassWriterWriteDataFile", guarded<bypassWriterWriteDataFile>);
  addExport(env, exports, "bypassWriterClose", guarded<operatorClose<BypassWriterHandle>>);
  addExport(env, exports, "segmentReaderOpen", guarded<segmentReaderOpen>);
  addExport(env, exports, "segmentReaderNext", guarded<segmentReaderNext>);
  addExport(env, exports, "segmentReaderCpuNanos", guarded<segmentReaderCpuNanos>);
  addExport(env, exports, "segmentReaderClose", guarded<operatorClose<SegmentReaderHandle>>);
}

}  // namespace tungsten::binding
