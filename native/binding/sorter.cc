// Exports for the external sorter. Heavy calls (insert, spill, beginOutput, nextBatch,
// mergeRuns) return promises and run on libuv worker threads; the rest are synchronous and
// cheap. While a worker uses a sorter, every other call on it is refused (INVALID_ARGUMENT
// "busy"); TypeScript serialises them, this only keeps a mistake from becoming a data race.
#include <napi.h>

#include <string>
#include <vector>

#include "binding.h"
#include "external_sorter.h"
#include "spill_file.h"

namespace tungsten::binding {
namespace {

SorterHandle& sorterHandle(const Napi::CallbackInfo& info, size_t index) {
  SorterHandle& handle = unwrap<SorterHandle>(info, index, "sorter");
  if (!handle.sorter) throw HandleError{"the Sorter handle is closed"};
  if (handle.busy) {
    throw Error(ErrorCode::kInvalidArgument, "the sorter is busy with another operation; await it first");
  }
  return handle;
}

uint32_t uint32Property(Napi::Object object, const char* name) {
  uint64_t value = byteCount(object.Get(name), name);
  if (value > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, std::string(name) + " is too large");
  return static_cast<uint32_t>(value);
}

// Element `index` of a JavaScript array, which must be an object (checked: As<> is not).
Napi::Object objectAt(Napi::Array array, uint32_t index, const char* what) {
  Napi::Value value = array.Get(index);
  if (!value.IsObject()) {
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + " " + std::to_string(index) + " must be an object");
  }
  return value.As<Napi::Object>();
}

bool boolProperty(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  return value.IsBoolean() && value.As<Napi::Boolean>().Value();
}

ColumnType columnTypeOf(Napi::Object spec) {
  ColumnType type;
  uint32_t physical = uint32Property(spec, "physical");
  if (physical > static_cast<uint32_t>(PhysicalType::kFixedBinary)) {
    throw Error(ErrorCode::kInvalidArgument, "unknown physical type " + std::to_string(physical));
  }
  type.physical = static_cast<PhysicalType>(physical);
  type.width = uint32Property(spec, "width");
  type.decimalFitsInt64 = boolProperty(spec, "decimalFitsInt64");
  const bool widthOk = type.physical == PhysicalType::kFixedBinary ? type.width > 0
                       : type.physical == PhysicalType::kVarBinary ? (type.width == 4 || type.width == 8)
                       : type.physical == PhysicalType::kFloat     ? (type.width == 4 || type.width == 8)
                       : type.physical == PhysicalType::kInt || type.physical == PhysicalType::kUInt
                           ? (type.width == 1 || type.width == 2 || type.width == 4 || type.width == 8)
                           : true;
  if (!widthOk) throw Error(ErrorCode::kInvalidArgument, "invalid width " + std::to_string(type.width));
  return type;
}

SpillCodec codecOf(uint32_t codec) {
  if (codec > 1) throw Error(ErrorCode::kInvalidArgument, "codec must be 0 (none) or 1 (lz4)");
  return static_cast<SpillCodec>(codec);
}

Napi::Object runToJs(Napi::Env env, const SpillRunInfo& run) {
  Napi::Object object = numbersObject(env, {{"codec", static_cast<double>(run.codec)},
                                            {"records", static_cast<double>(run.records)},
                                            {"blocks", static_cast<double>(run.blocks)},
                                            {"fileBytes", static_cast<double>(run.fileBytes)},
                                            {"rawBytes", static_cast<double>(run.rawBytes)},
                                            {"maxBlockBytes", static_cast<double>(run.maxBlockBytes)}});
  object.Set("path", run.path);
  return object;
}

SpillRunInfo runFromJs(Napi::Value value) {
  if (!value.IsObject()) throw Error(ErrorCode::kInvalidArgument, "a spill run must be an object");
  Napi::Object object = value.As<Napi::Object>();
  SpillRunInfo run;
  if (!object.Get("path").IsString()) throw Error(ErrorCode::kInvalidArgument, "a spill run needs a path");
  run.path = object.Get("path").As<Napi::String>().Utf8Value();
  run.codec = codecOf(uint32Property(object, "codec"));
  run.records = byteCount(object.Get("records"), "records");
  run.blocks = byteCount(object.Get("blocks"), "blocks");
  run.fileBytes = byteCount(object.Get("fileBytes"), "fileBytes");
  run.rawBytes = byteCount(object.Get("rawBytes"), "rawBytes");
  run.maxBlockBytes = uint32Property(object, "maxBlockBytes");
  return run;
}

std::vector<SpillRunInfo> runsFromJs(Napi::Value value) {
  if (!value.IsArray()) throw Error(ErrorCode::kInvalidArgument, "runs must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<SpillRunInfo> runs;
  for (uint32_t i = 0; i < array.Length(); ++i) runs.push_back(runFromJs(array.Get(i)));
  return runs;
}

struct Bytes {
  const uint8_t* data = nullptr;
  size_t length = 0;
};

Bytes typedArrayBytes(Napi::Value value, const char* what) {
  if (!value.IsTypedArray()) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must be a typed array");
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  const uint8_t* base = static_cast<const uint8_t*>(array.ArrayBuffer().Data());
  return {base == nullptr ? nullptr : base + array.ByteOffset(), array.ByteLength()};
}

// A batch's columns, borrowed from JavaScript, with the sizes the worker validates against.
struct BorrowedBatch {
  BatchView view;
  std::vector<size_t> valuesLength;
};

BorrowedBatch borrowBatch(Napi::Value value, const RowLayout& layout) {
  if (!value.IsObject()) throw Error(ErrorCode::kInvalidArgument, "batch must be an object");
  Napi::Object batch = value.As<Napi::Object>();
  BorrowedBatch borrowed;
  borrowed.view.numRows = byteCount(batch.Get("numRows"), "numRows");
  Napi::Value columnsValue = batch.Get("columns");
  if (!columnsValue.IsArray()) throw Error(ErrorCode::kInvalidArgument, "batch.columns must be an array");
  Napi::Array columns = columnsValue.As<Napi::Array>();
  if (columns.Length() != layout.numColumns()) {
    throw Error(ErrorCode::kInvalidArgument, "the batch has " + std::to_string(columns.Length()) +
                                                 " columns, the sorter " + std::to_string(layout.numColumns()));
  }
  const uint64_t n = borrowed.view.numRows;
  for (uint32_t c = 0; c < columns.Length(); ++c) {
    Napi::Object spec = objectAt(columns, c, "batch column");
    const ColumnType& type = layout.columns()[c];
    ColumnView column;
    column.type = type;
    const std::string name = "column " + std::to_string(c);
    Napi::Value validity = spec.Get("validity");
    if (!validity.IsNull() && !validity.IsUndefined()) {
      Bytes bytes = typedArrayBytes(validity, "validity");
      column.validity = bytes.data;
      column.validityBitOffset = byteCount(spec.Get("validityOffset"), "validityOffset");
      if (n > 0 && (column.validityBitOffset + n + 7) / 8 > bytes.length) {
        throw Error(ErrorCode::kInvalidArgument, name + ": the validity bitmap is too short");
      }
    }
    Bytes values = typedArrayBytes(spec.Get("values"), "values");
    column.values = values.data;
    borrowed.valuesLength.push_back(values.length);
    if (type.physical == PhysicalType::kBool) {
      column.valuesBitOffset = byteCount(spec.Get("valuesBitOffset"), "valuesBitOffset");
      if (n > 0 && (column.valuesBitOffset + n + 7) / 8 > values.length) {
        throw Error(ErrorCode::kInvalidArgument, name + ": the boolean values are too short");
      }
    } else if (type.physical == PhysicalType::kVarBinary) {
      Bytes offsets = typedArrayBytes(spec.Get("offsets"), "offsets");
      column.offsets = offsets.data;
      if (offsets.length < (n + 1) * type.width) {
        throw Error(ErrorCode::kInvalidArgument, name + ": the offsets are too short");
      }
    } else if (values.length < n * slotBytes(type)) {
      throw Error(ErrorCode::kInvalidArgument, name + ": the values are too short");
    }
    borrowed.view.columns.push_back(column);
  }
  return borrowed;
}

// Var-width offsets must rise within the values buffer; checked on the worker, before any
// row is read, so a damaged batch cannot make native code read out of bounds.
void validateOffsets(const BorrowedBatch& batch) {
  for (size_t c = 0; c < batch.view.columns.size(); ++c) {
    const ColumnView& column = batch.view.columns[c];
    if (column.type.physical != PhysicalType::kVarBinary) continue;
    uint64_t previous = varOffset(column, 0);
    const int64_t first = static_cast<int64_t>(previous);
    bool ok = first >= 0;
    for (uint64_t row = 1; ok && row <= batch.view.numRows; ++row) {
      const uint64_t offset = varOffset(column, row);
      ok = static_cast<int64_t>(offset) >= static_cast<int64_t>(previous);
      previous = offset;
    }
    if (!ok || previous > batch.valuesLength[c]) {
      throw Error(ErrorCode::kInvalidArgument,
                  "column " + std::to_string(c) + ": the offsets are not ascending within the values buffer");
    }
  }
}

// Base of the sorter's workers: marks the sorter busy for the worker's lifetime.
class SorterWorker : public PromiseWorker {
 public:
  SorterWorker(const Napi::CallbackInfo& info, SorterHandle& handle)
      : PromiseWorker(info.Env()), handle_(handle), sorter_(*handle.sorter) {
    KeepAlive(info[0]);
    handle_.busy = true;
  }

 protected:
  void Finally() override { handle_.busy = false; }
  SorterHandle& handle_;
  ExternalSorter& sorter_;
};

class InsertWorker : public SorterWorker {
 public:
  InsertWorker(const Napi::CallbackInfo& info, SorterHandle& handle, BorrowedBatch batch, uint64_t startRow)
      : SorterWorker(info, handle), batch_(std::move(batch)), startRow_(startRow) {
    KeepAlive(info[1]);
  }
  void Run() override {
    validateOffsets(batch_);
    result_ = sorter_.insert(batch_.view, startRow_);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object object = Napi::Object::New(env);
    object.Set("nextRow", static_cast<double>(result_.nextRow));
    object.Set("needRecordBytes", static_cast<double>(result_.needRecordBytes));
    object.Set("needArray", result_.needArray);
    return object;
  }

 private:
  BorrowedBatch batch_;
  uint64_t startRow_;
  ExternalSorter::InsertResult result_{};
};

class SpillWorker : public SorterWorker {
 public:
  SpillWorker(const Napi::CallbackInfo& info, SorterHandle& handle, std::string path)
      : SorterWorker(info, handle), path_(std::move(path)) {}
  void Run() override { run_ = sorter_.spill(path_); }
  Napi::Value Result(Napi::Env env) override { return run_.records == 0 && run_.path.empty() ? env.Null() : runToJs(env, run_); }

 private:
  std::string path_;
  SpillRunInfo run_;
};

class BeginOutputWorker : public SorterWorker {
 public:
  BeginOutputWorker(const Napi::CallbackInfo& info, SorterHandle& handle, std::vector<SpillRunInfo> runs)
      : SorterWorker(info, handle), runs_(std::move(runs)) {}
  void Run() override { sorter_.beginOutput(runs_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::vector<SpillRunInfo> runs_;
};

// Hands a malloc'd buffer to JavaScript without copying; V8 is told its size so that dropped
// batches create GC pressure and are freed promptly.
Napi::Value toArrayBuffer(Napi::Env env, OutputBuffer& buffer) {
  if (buffer.size == 0 || !buffer.data) return Napi::ArrayBuffer::New(env, 0);
  const size_t size = buffer.size;
  uint8_t* data = buffer.data.release();
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(size));
  return Napi::ArrayBuffer::New(env, data, size, [size](Napi::Env finalizerEnv, void* p) {
    std::free(p);
    Napi::MemoryManagement::AdjustExternalMemory(finalizerEnv, -static_cast<int64_t>(size));
  });
}

class NextBatchWorker : public SorterWorker {
 public:
  NextBatchWorker(const Napi::CallbackInfo& info, SorterHandle& handle, uint64_t maxRows)
      : SorterWorker(info, handle), maxRows_(maxRows) {}
  void Run() override { batch_ = sorter_.nextBatch(maxRows_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object object = Napi::Object::New(env);
    object.Set("numRows", static_cast<double>(batch_.numRows));
    Napi::Array columns = Napi::Array::New(env, batch_.columns.size());
    for (uint32_t c = 0; c < batch_.columns.size(); ++c) {
      OutputColumn& column = batch_.columns[c];
      Napi::Object js = Napi::Object::New(env);
      js.Set("nullCount", static_cast<double>(column.nullCount));
      js.Set("validity", column.nullCount > 0 ? toArrayBuffer(env, column.validity) : env.Null());
      js.Set("values", toArrayBuffer(env, column.values));
      js.Set("offsets", column.offsets.data ? toArrayBuffer(env, column.offsets) : env.Null());
      columns.Set(c, js);
    }
    object.Set("columns", columns);
    return object;
  }

 private:
  uint64_t maxRows_;
  OutputBatch batch_;
};

class MergeRunsWorker : public SorterWorker {
 public:
  MergeRunsWorker(const Napi::CallbackInfo& info, SorterHandle& handle, std::vector<SpillRunInfo> runs, std::string path)
      : SorterWorker(info, handle), runs_(std::move(runs)), path_(std::move(path)) {}
  void Run() override { merged_ = sorter_.mergeRuns(runs_, path_); }
  Napi::Value Result(Napi::Env env) override { return runToJs(env, merged_); }

 private:
  std::vector<SpillRunInfo> runs_;
  std::string path_;
  SpillRunInfo merged_;
};

Napi::Value sorterCreate(const Napi::CallbackInfo& info) {
  PageTableHandle& table = openTableHandle(info, 0);
  if (!info[1].IsObject()) throw Error(ErrorCode::kInvalidArgument, "options must be an object");
  Napi::Object options = info[1].As<Napi::Object>();
  SorterOptions sorterOptions;
  Napi::Value columnsValue = options.Get("columns");
  Napi::Value keysValue = options.Get("keys");
  if (!columnsValue.IsArray() || !keysValue.IsArray()) {
    throw Error(ErrorCode::kInvalidArgument, "options.columns and options.keys must be arrays");
  }
  Napi::Array columns = columnsValue.As<Napi::Array>();
  for (uint32_t c = 0; c < columns.Length(); ++c) {
    sorterOptions.columns.push_back(columnTypeOf(objectAt(columns, c, "column")));
  }
  Napi::Array keys = keysValue.As<Napi::Array>();
  for (uint32_t k = 0; k < keys.Length(); ++k) {
    Napi::Object key = objectAt(keys, k, "sort key");
    SortKey sortKey{uint32Property(key, "column"), boolProperty(key, "descending"), boolProperty(key, "nullsFirst")};
    if (sortKey.column >= sorterOptions.columns.size()) {
      throw Error(ErrorCode::kInvalidArgument, "sort key column " + std::to_string(sortKey.column) + " does not exist");
    }
    sorterOptions.keys.push_back(sortKey);
  }
  sorterOptions.codec = codecOf(uint32Property(options, "codec"));
  sorterOptions.spillBlockBytes = uint32Property(options, "spillBlockBytes");
  if (sorterOptions.spillBlockBytes < 1024) throw Error(ErrorCode::kInvalidArgument, "spillBlockBytes must be at least 1024");
  auto* handle = new SorterHandle{std::make_unique<ExternalSorter>(std::move(sorterOptions), table.table)};
  return wrapHandle(info.Env(), handle);
}

Napi::Value sorterAddDataPage(const Napi::CallbackInfo& info) {
  sorterHandle(info, 0).sorter->addDataPage(blockOf(info, 1));
  return info.Env().Undefined();
}

Napi::Value sorterReplacePointerArray(const Napi::CallbackInfo& info) {
  sorterHandle(info, 0).sorter->replacePointerArray(blockOf(info, 1));
  return info.Env().Undefined();
}

Napi::Value sorterPointerArrayGrown(const Napi::CallbackInfo& info) {
  sorterHandle(info, 0).sorter->pointerArrayGrown();
  return info.Env().Undefined();
}

Napi::Value sorterInsert(const Napi::CallbackInfo& info) {
  SorterHandle& handle = sorterHandle(info, 0);
  BorrowedBatch batch = borrowBatch(info[1], handle.sorter->layout());
  const uint64_t startRow = byteCount(info, 2, "startRow");
  if (startRow > batch.view.numRows) throw Error(ErrorCode::kInvalidArgument, "startRow is past the batch");
  return (new InsertWorker(info, handle, std::move(batch), startRow))->Queue();
}

Napi::Value sorterSpill(const Napi::CallbackInfo& info) {
  SorterHandle& handle = sorterHandle(info, 0);
  return (new SpillWorker(info, handle, stringArgument(info, 1, "path")))->Queue();
}

Napi::Value sorterBeginOutput(const Napi::CallbackInfo& info) {
  SorterHandle& handle = sorterHandle(info, 0);
  return (new BeginOutputWorker(info, handle, runsFromJs(info[1])))->Queue();
}

Napi::Value sorterNextBatch(const Napi::CallbackInfo& info) {
  SorterHandle& handle = sorterHandle(info, 0);
  const uint64_t maxRows = byteCount(info, 1, "maxRows");
  if (maxRows == 0) throw Error(ErrorCode::kInvalidArgument, "maxRows must be at least 1");
  return (new NextBatchWorker(info, handle, maxRows))->Queue();
}

Napi::Value sorterMergeRuns(const Napi::CallbackInfo& info) {
  SorterHandle& handle = sorterHandle(info, 0);
  std::vector<SpillRunInfo> runs = runsFromJs(info[1]);
  return (new MergeRunsWorker(info, handle, std::move(runs), stringArgument(info, 2, "path")))->Queue();
}

Napi::Value sorterEndOutput(const Napi::CallbackInfo& info) {
  sorterHandle(info, 0).sorter->endOutput();
  return info.Env().Undefined();
}

Napi::Value sorterState(const Napi::CallbackInfo& info) {
  ExternalSorter& sorter = *sorterHandle(info, 0).sorter;
  Napi::Object state = Napi::Object::New(info.Env());
  state.Set("inMemoryRecords", static_cast<double>(sorter.numInMemoryRecords()));
  state.Set("dataPages", static_cast<double>(sorter.numDataPages()));
  state.Set("pointerArrayBytes", static_cast<double>(sorter.pointerArrayCapacityBytes()));
  state.Set("outputStarted", sorter.outputStarted());
  state.Set("outputReadsMemory", sorter.outputReadsMemory());
  return state;
}

Napi::Value sorterMetrics(const Napi::CallbackInfo& info) {
  const SorterMetrics& m = sorterHandle(info, 0).sorter->metrics();
  return numbersObject(info.Env(), {{"rowsInserted", static_cast<double>(m.rowsInserted)},
                                    {"sortTimeNs", static_cast<double>(m.sortTimeNs)},
                                    {"spillWriteTimeNs", static_cast<double>(m.spillWriteTimeNs)},
                                    {"spillCount", static_cast<double>(m.spillCount)},
                                    {"diskBytesSpilled", static_cast<double>(m.diskBytesSpilled)},
                                    {"mergePasses", static_cast<double>(m.mergePasses)}});
}

// Releases the native sorter (its references to pages, open spill readers). Idempotent.
Napi::Value sorterClose(const Napi::CallbackInfo& info) {
  SorterHandle& handle = unwrap<SorterHandle>(info, 0, "sorter");
  if (handle.busy) {
    throw Error(ErrorCode::kInvalidArgument, "the sorter is busy with another operation; await it first");
  }
  handle.sorter.reset();
  return info.Env().Undefined();
}

Napi::Value spillInjectDiskFullAfter(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Error(ErrorCode::kInvalidArgument, "argument 'bytes' must be a number");
  injectSpillDiskFullAfter(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

}  // namespace

void registerSorterExports(Napi::Env env, Napi::Object exports) {
  addExport(env, exports, "sorterCreate", guarded<sorterCreate>);
  addExport(env, exports, "sorterAddDataPage", guarded<sorterAddDataPage>);
  addExport(env, exports, "sorterReplacePointerArray", guarded<sorterReplacePointerArray>);
  addExport(env, exports, "sorterPointerArrayGrown", guarded<sorterPointerArrayGrown>);
  addExport(env, exports, "sorterInsert", guarded<sorterInsert>);
  addExport(env, exports, "sorterSpill", guarded<sorterSpill>);
  addExport(env, exports, "sorterBeginOutput", guarded<sorterBeginOutput>);
  addExport(env, exports, "sorterNextBatch", guarded<sorterNextBatch>);
  addExport(env, exports, "sorterMergeRuns", guarded<sorterMergeRuns>);
  addExport(env, exports, "sorterEndOutput", guarded<sorterEndOutput>);
  addExport(env, exports, "sorterState", guarded<sorterState>);
  addExport(env, exports, "sorterMetrics", guarded<sorterMetrics>);
  addExport(env, exports, "sorterClose", guarded<sorterClose>);
  addExport(env, exports, "spillInjectDiskFullAfter", guarded<spillInjectDiskFullAfter>);
}

}  // namespace tungsten::binding
