// The glue the operators' exports share: reading options, spill runs and batches from
// JavaScript, and handing output batches back without copying.
#include "operators.h"

#include <malloc.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace tungsten::binding {

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

std::vector<ColumnType> columnTypesOf(Napi::Value value, const char* what) {
  if (!value.IsArray()) throw Error(ErrorCode::kInvalidArgument, std::string("the ") + what + " types must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<ColumnType> types;
  for (uint32_t c = 0; c < array.Length(); ++c) types.push_back(columnTypeOf(objectAt(array, c, what)));
  return types;
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


BorrowedBatch borrowBatch(Napi::Value value, const std::vector<ColumnType>& types, const char* owner) {
  if (!value.IsObject()) throw Error(ErrorCode::kInvalidArgument, "batch must be an object");
  Napi::Object batch = value.As<Napi::Object>();
  BorrowedBatch borrowed;
  borrowed.view.numRows = byteCount(batch.Get("numRows"), "numRows");
  Napi::Value columnsValue = batch.Get("columns");
  if (!columnsValue.IsArray()) throw Error(ErrorCode::kInvalidArgument, "batch.columns must be an array");
  Napi::Array columns = columnsValue.As<Napi::Array>();
  if (columns.Length() != types.size()) {
    throw Error(ErrorCode::kInvalidArgument, "the batch has " + std::to_string(columns.Length()) + " columns, the " +
                                                 owner + " " + std::to_string(types.size()));
  }
  const uint64_t n = borrowed.view.numRows;
  for (uint32_t c = 0; c < columns.Length(); ++c) {
    Napi::Object spec = objectAt(columns, c, "batch column");
    const ColumnType& type = types[c];
    ColumnView column;
    column.type = type;
    const std::string name = "column " + std::to_string(c);
    Napi::Value validity = spec.Get("validity");
    if (!validity.IsNull() && !validity.IsUndefined()) {
      Bytes bytes = typedArrayBytes(validity, "validity");
      borrowed.buffers.push_back(validity);
      column.validity = bytes.data;
      column.validityBitOffset = byteCount(spec.Get("validityOffset"), "validityOffset");
      if (n > 0 && (column.validityBitOffset + n + 7) / 8 > bytes.length) {
        throw Error(ErrorCode::kInvalidArgument, name + ": the validity bitmap is too short");
      }
    }
    Napi::Value valuesValue = spec.Get("values");
    Bytes values = typedArrayBytes(valuesValue, "values");
    borrowed.buffers.push_back(valuesValue);
    column.values = values.data;
    borrowed.valuesLength.push_back(values.length);
    if (type.physical == PhysicalType::kBool) {
      column.valuesBitOffset = byteCount(spec.Get("valuesBitOffset"), "valuesBitOffset");
      if (n > 0 && (column.valuesBitOffset + n + 7) / 8 > values.length) {
        throw Error(ErrorCode::kInvalidArgument, name + ": the boolean values are too short");
      }
    } else if (type.physical == PhysicalType::kVarBinary) {
      Napi::Value offsetsValue = spec.Get("offsets");
      Bytes offsets = typedArrayBytes(offsetsValue, "offsets");
      borrowed.buffers.push_back(offsetsValue);
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

namespace {

// Marks the ArrayBuffers made here: releaseOutputBuffers detaches no other (a buffer JavaScript
// allocated may be what a worker is reading).
constexpr napi_type_tag kOutputBufferTag = {0x3c5a9e1f7b2d4086ull, 0xd17e4b2a95c3f068ull};

// Hands an output buffer to JavaScript without copying; V8 is told its size so that dropped
// batches create GC pressure and are freed promptly.
Napi::Value toArrayBuffer(Napi::Env env, OutputBuffer& buffer) {
  // An arena's view (OutputArena) is not the caller's to give away: its finalizer would free
  // memory the arena still owns.
  if (buffer.data && !buffer.data.get_deleter().owned) {
    throw std::logic_error("an arena's output buffer was about to be handed to JavaScript");
  }
  Napi::ArrayBuffer out;
  if (buffer.size == 0 || !buffer.data) {
    out = Napi::ArrayBuffer::New(env, 0);
  } else {
    const size_t size = buffer.size;
    uint8_t* data = buffer.data.release();
    Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(size));
    out = Napi::ArrayBuffer::New(env, data, size, [size](Napi::Env finalizerEnv, void* p) {
      freeOutputBytes(p, size);
      Napi::MemoryManagement::AdjustExternalMemory(finalizerEnv, -static_cast<int64_t>(size));
    });
  }
  out.TypeTag(&kOutputBufferTag);
  return out;
}

}  // namespace

Napi::Value releaseOutputBuffers(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) throw Error(ErrorCode::kInvalidArgument, "releaseOutputBuffers takes an array of ArrayBuffers");
  Napi::Array array = info[0].As<Napi::Array>();
  // All are checked before any is detached: a bad element releases nothing.
  std::vector<Napi::ArrayBuffer> buffers;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value value = array.Get(i);
    if (!value.IsArrayBuffer() || !value.As<Napi::Object>().CheckTypeTag(&kOutputBufferTag)) {
      throw Error(ErrorCode::kInvalidArgument, "releaseOutputBuffers takes only ArrayBuffers of the addon's output batches");
    }
    buffers.push_back(value.As<Napi::ArrayBuffer>());
  }
  // Detaching drops V8's hold on the backing store; Node then runs toArrayBuffer's finalizer
  // (on the event loop, as an immediate), which frees the bytes.
  for (Napi::ArrayBuffer& buffer : buffers) {
    if (!buffer.IsDetached()) buffer.Detach();
  }
  return info.Env().Undefined();
}

Napi::Value outputBytesLive(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(tungsten::outputBytesLive()));
}

Napi::Value releaseCachedOutputBytes(const Napi::CallbackInfo& info) {
  tungsten::releaseCachedOutputBytes();
  return info.Env().Undefined();
}

void releaseFreedHeapMemory() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

Napi::Value outputBatchToJs(Napi::Env env, OutputBatch& batch) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("numRows", static_cast<double>(batch.numRows));
  Napi::Array columns = Napi::Array::New(env, batch.columns.size());
  for (uint32_t c = 0; c < batch.columns.size(); ++c) {
    OutputColumn& column = batch.columns[c];
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

}  // namespace tungsten::binding
