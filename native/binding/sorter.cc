// Exports for the external sorter. Heavy calls (insert, spill, beginOutput, nextBatch,
// mergeRuns) return promises and run on libuv worker threads (operators.h); the rest are
// synchronous and cheap.
#include <napi.h>

#include <string>
#include <vector>

#include "binding.h"
#include "external_sorter.h"
#include "file_io.h"
#include "operators.h"
#include "spill_file.h"

namespace tungsten::binding {
namespace {

SorterHandle& sorterHandle(const Napi::CallbackInfo& info, size_t index) {
  return operatorHandle<SorterHandle>(info, index);
}

Napi::Value sorterCreate(const Napi::CallbackInfo& info) {
  PageTableHandle& table = openTableHandle(info, 0);
  if (!info[1].IsObject()) throw Error(ErrorCode::kInvalidArgument, "options must be an object");
  Napi::Object options = info[1].As<Napi::Object>();
  SorterOptions sorterOptions;
  Napi::Value keysValue = options.Get("keys");
  if (!keysValue.IsArray()) throw Error(ErrorCode::kInvalidArgument, "options.keys must be an array");
  sorterOptions.columns = columnTypesOf(options.Get("columns"), "column");
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

Napi::Value sorterPointerArrayGrown(const Napi::CallbackInfo& info) {
  sorterHandle(info, 0).op->pointerArrayGrown();
  return info.Env().Undefined();
}

Napi::Value sorterEndOutput(const Napi::CallbackInfo& info) {
  sorterHandle(info, 0).op->endOutput();
  return info.Env().Undefined();
}

Napi::Value sorterState(const Napi::CallbackInfo& info) {
  ExternalSorter& sorter = *sorterHandle(info, 0).op;
  Napi::Object state = Napi::Object::New(info.Env());
  state.Set("inMemoryRecords", static_cast<double>(sorter.numInMemoryRecords()));
  state.Set("dataPages", static_cast<double>(sorter.numDataPages()));
  state.Set("pointerArrayBytes", static_cast<double>(sorter.pointerArrayCapacityBytes()));
  state.Set("outputStarted", sorter.outputStarted());
  state.Set("outputReadsMemory", sorter.outputReadsMemory());
  return state;
}

Napi::Value sorterMetrics(const Napi::CallbackInfo& info) {
  SorterHandle& handle = sorterHandle(info, 0);
  const SorterMetrics& m = handle.op->metrics();
  return numbersObject(info.Env(), {{"rowsInserted", static_cast<double>(m.rowsInserted)},
                                    {"workerCpuNanos", static_cast<double>(handle.workerCpuNanos.load())},
                                    {"sortTimeNs", static_cast<double>(m.sortTimeNs)},
                                    {"spillWriteTimeNs", static_cast<double>(m.spillWriteTimeNs)},
                                    {"spillCount", static_cast<double>(m.spillCount)},
                                    {"diskBytesSpilled", static_cast<double>(m.diskBytesSpilled)},
                                    {"mergePasses", static_cast<double>(m.mergePasses)}});
}

Napi::Value spillInjectDiskFullAfter(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Error(ErrorCode::kInvalidArgument, "argument 'bytes' must be a number");
  injectDiskFullAfter(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

}  // namespace

void registerSorterExports(Napi::Env env, Napi::Object exports) {
  addExport(env, exports, "sorterCreate", guarded<sorterCreate>);
  addExport(env, exports, "sorterAddDataPage", guarded<operatorAddDataPage<SorterHandle>>);
  addExport(env, exports, "sorterReplacePointerArray", guarded<operatorReplacePointerArray<SorterHandle>>);
  addExport(env, exports, "sorterPointerArrayGrown", guarded<sorterPointerArrayGrown>);
  addExport(env, exports, "sorterInsert", guarded<operatorInsert<SorterHandle>>);
  addExport(env, exports, "sorterSpill", guarded<operatorSpill<SorterHandle>>);
  addExport(env, exports, "sorterBeginOutput", guarded<operatorBeginOutput<SorterHandle>>);
  addExport(env, exports, "sorterNextBatch", guarded<operatorNextBatch<SorterHandle>>);
  addExport(env, exports, "sorterMergeRuns", guarded<operatorMergeRuns<SorterHandle>>);
  addExport(env, exports, "sorterEndOutput", guarded<sorterEndOutput>);
  addExport(env, exports, "sorterState", guarded<sorterState>);
  addExport(env, exports, "sorterMetrics", guarded<sorterMetrics>);
  addExport(env, exports, "sorterClose", guarded<operatorClose<SorterHandle>>);
  addExport(env, exports, "spillInjectDiskFullAfter", guarded<spillInjectDiskFullAfter>);
}

}  // namespace tungsten::binding
