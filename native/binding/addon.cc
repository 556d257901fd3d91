// The tungsten addon: glue between src/native/addon.ts (the typed contract) and native/core.
//
// Every export checks its arguments and handles, converts them, calls native/core, and turns a
// tungsten::Error into the TypeScript error class for its code through the factory that
// src/native/addon.ts registers at load time. Nothing here decides policy: the page table
// allocates only the bytes its caller says were granted.
#include <napi.h>

#include <cmath>
#include <string>

#include "errors.h"
#include "handles.h"
#include "page_address.h"
#include "page_allocator.h"
#include "task_page_table.h"

namespace tungsten::binding {
namespace {

struct AddonData {
  Napi::FunctionReference errorFactory;
};

constexpr const char* kErrorCodeInvalidHandle = "INVALID_HANDLE";

// Makes the error that JavaScript will see: the registered TypeScript class when there is one.
Napi::Error makeError(Napi::Env env, const char* code, const std::string& message) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    Napi::Value error = data->errorFactory.Call({Napi::String::New(env, code),
                                                 Napi::String::New(env, message)});
    if (error.IsObject()) return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

struct HandleError {
  std::string message;
};

template <typename Handle>
Handle& unwrap(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  Napi::Value value = info[index];
  if (!value.IsExternal() || !value.As<Napi::External<Handle>>().CheckTypeTag(&Handle::kTag)) {
    throw HandleError{std::string("argument '") + argument + "' must be a " + Handle::kName +
                      " handle"};
  }
  return *value.As<Napi::External<Handle>>().Data();
}

TaskPageTable& openTable(const Napi::CallbackInfo& info, size_t index) {
  PageTableHandle& handle = unwrap<PageTableHandle>(info, index, "pageTable");
  if (!handle.table) throw HandleError{"the PageTable handle is closed"};
  return *handle.table;
}

MemoryBlock& blockOf(const Napi::CallbackInfo& info, size_t index) {
  return *unwrap<BlockHandle>(info, index, "block").block;
}

// Byte counts travel as JavaScript numbers; they must be exact non-negative integers.
uint64_t byteCount(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  Napi::Value value = info[index];
  double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!value.IsNumber() || !(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("argument '") + argument +
                    "' must be a whole number of bytes between 0 and 2^53 - 1");
  }
  return static_cast<uint64_t>(d);
}

uint64_t bigintArgument(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  Napi::Value value = info[index];
  bool lossless = false;
  uint64_t result = value.IsBigInt() ? value.As<Napi::BigInt>().Uint64Value(&lossless) : 0;
  if (!lossless) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("argument '") + argument + "' must be a bigint between 0 and 2^64 - 1");
  }
  return result;
}

Napi::Value blockOrNull(Napi::Env env, std::shared_ptr<MemoryBlock> block) {
  if (!block) return env.Null();
  return wrapHandle(env, new BlockHandle{std::move(block)});
}

// Runs an export body and converts every failure into a JavaScript exception of the right
// class. A C++ exception must never unwind into V8.
template <Napi::Value (*Body)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    return Body(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const HandleError& e) {
    throw makeError(env, kErrorCodeInvalidHandle, e.message);
  } catch (const Error& e) {
    throw makeError(env, errorCodeName(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    throw makeError(env, "NATIVE_OUT_OF_MEMORY", "native code could not allocate its bookkeeping");
  } catch (const std::exception& e) {
    throw makeError(env, "INTERNAL", e.what());
  }
}

Napi::Value setErrorFactory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    throw Error(ErrorCode::kInvalidArgument, "argument 'factory' must be a function");
  }
  info.Env().GetInstanceData<AddonData>()->errorFactory =
      Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value errorCodes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ErrorCode all[] = {ErrorCode::kInvalidArgument, ErrorCode::kTooLargePage,
                           ErrorCode::kPageTableFull, ErrorCode::kInvalidPageState};
  Napi::Array codes = Napi::Array::New(env);
  uint32_t i = 0;
  for (ErrorCode code : all) codes.Set(i++, errorCodeName(code));
  for (const char* code : {kErrorCodeInvalidHandle, "NATIVE_OUT_OF_MEMORY", "INTERNAL"}) {
    codes.Set(i++, code);
  }
  return codes;
}

Napi::Value allocatorStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AllocatorStats stats = PageAllocator::instance().stats();
  Napi::Object result = Napi::Object::New(env);
  result.Set("liveBytes", static_cast<double>(stats.liveBytes));
  result.Set("liveBlocks", static_cast<double>(stats.liveBlocks));
  result.Set("peakLiveBytes", static_cast<double>(stats.peakLiveBytes));
  result.Set("totalAllocations", static_cast<double>(stats.totalAllocations));
  return result;
}

Napi::Value allocatorSetDebugFill(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Error(ErrorCode::kInvalidArgument, "argument 'on' must be a boolean");
  PageAllocator::instance().setDebugFill(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value allocatorDebugFill(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), PageAllocator::instance().debugFill());
}

Napi::Value allocatorFailNextAllocations(const Napi::CallbackInfo& info) {
  uint64_t count = byteCount(info, 0, "count");
  if (count > UINT32_MAX) throw Error(ErrorCode::kInvalidArgument, "argument 'count' is too large");
  PageAllocator::instance().failNextAllocations(static_cast<uint32_t>(count));
  return info.Env().Undefined();
}

Napi::Value allocatorAllocate(const Napi::CallbackInfo& info) {
  return blockOrNull(info.Env(), PageAllocator::instance().allocate(byteCount(info, 0, "size")));
}

Napi::Value allocatorFree(const Napi::CallbackInfo& info) {
  PageAllocator::instance().free(blockOf(info, 0));
  return info.Env().Undefined();
}

Napi::Value blockPageNumber(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), blockOf(info, 0).pageNumber);
}

Napi::Value blockSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(blockOf(info, 0).size));
}

Napi::Value blockBaseAddress(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(blockOf(info, 0).baseAddress()));
}

Napi::Value pageTableCreate(const Napi::CallbackInfo& info) {
  auto* handle = new PageTableHandle{std::make_unique<TaskPageTable>(PageAllocator::instance())};
  return wrapHandle(info.Env(), handle);
}

Napi::Value pageTableAllocatePage(const Napi::CallbackInfo& info) {
  TaskPageTable& table = openTable(info, 0);
  return blockOrNull(info.Env(), table.allocatePage(byteCount(info, 1, "grantedBytes")));
}

Napi::Value pageTableFreePage(const Napi::CallbackInfo& info) {
  openTable(info, 0).freePage(blockOf(info, 1));
  return info.Env().Undefined();
}

Napi::Value pageTableFreeAllPages(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(openTable(info, 0).freeAllPages()));
}

Napi::Value pageTableLivePages(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), openTable(info, 0).livePages());
}

Napi::Value pageTableEncodeAbsolute(const Napi::CallbackInfo& info) {
  TaskPageTable& table = openTable(info, 0);
  MemoryBlock& page = blockOf(info, 1);
  if (page.pageNumber < 0 || table.page(static_cast<uint32_t>(page.pageNumber)) != &page) {
    throw Error(ErrorCode::kInvalidPageState, "the block is not a live page of this page table");
  }
  uint64_t absolute = bigintArgument(info, 2, "absoluteAddress");
  return Napi::BigInt::New(info.Env(), TaskPageTable::encodeAbsolute(page, absolute));
}

Napi::Value pageTableAbsoluteAddress(const Napi::CallbackInfo& info) {
  TaskPageTable& table = openTable(info, 0);
  uint64_t address = bigintArgument(info, 1, "address");
  if (table.page(decodePageNumber(address)) == nullptr) {
    throw Error(ErrorCode::kInvalidPageState,
                "address " + std::to_string(address) + " names page " +
                    std::to_string(decodePageNumber(address)) + ", which is not live");
  }
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(table.absoluteAddress(address)));
}

Napi::Value pageTableClose(const Napi::CallbackInfo& info) {
  PageTableHandle& handle = unwrap<PageTableHandle>(info, 0, "pageTable");
  uint64_t freed = handle.table ? handle.table->freeAllPages() : 0;
  handle.table.reset();
  return Napi::Number::New(info.Env(), static_cast<double>(freed));
}

Napi::Value encodePageNumberAndOffsetExport(const Napi::CallbackInfo& info) {
  uint64_t pageNumber = byteCount(info, 0, "pageNumber");
  if (pageNumber >= kPageTableSize) {
    throw Error(ErrorCode::kInvalidArgument, "argument 'pageNumber' must be below 8192");
  }
  uint64_t offset = bigintArgument(info, 1, "offset");
  return Napi::BigInt::New(info.Env(),
                           encodePageNumberAndOffset(static_cast<uint32_t>(pageNumber), offset));
}

Napi::Value decodePageNumberExport(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), decodePageNumber(bigintArgument(info, 0, "address")));
}

Napi::Value decodeOffsetExport(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), decodeOffset(bigintArgument(info, 0, "address")));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  add("setErrorFactory", guarded<setErrorFactory>);
  add("errorCodes", guarded<errorCodes>);
  add("allocatorStats", guarded<allocatorStats>);
  add("allocatorSetDebugFill", guarded<allocatorSetDebugFill>);
  add("allocatorDebugFill", guarded<allocatorDebugFill>);
  add("allocatorFailNextAllocations", guarded<allocatorFailNextAllocations>);
  add("allocatorAllocate", guarded<allocatorAllocate>);
  add("allocatorFree", guarded<allocatorFree>);
  add("blockPageNumber", guarded<blockPageNumber>);
  add("blockSize", guarded<blockSize>);
  add("blockBaseAddress", guarded<blockBaseAddress>);
  add("pageTableCreate", guarded<pageTableCreate>);
  add("pageTableAllocatePage", guarded<pageTableAllocatePage>);
  add("pageTableFreePage", guarded<pageTableFreePage>);
  add("pageTableFreeAllPages", guarded<pageTableFreeAllPages>);
  add("pageTableLivePages", guarded<pageTableLivePages>);
  add("pageTableEncodeAbsolute", guarded<pageTableEncodeAbsolute>);
  add("pageTableAbsoluteAddress", guarded<pageTableAbsoluteAddress>);
  add("pageTableClose", guarded<pageTableClose>);
  add("encodePageNumberAndOffset", guarded<encodePageNumberAndOffsetExport>);
  add("decodePageNumber", guarded<decodePageNumberExport>);
  add("decodeOffset", guarded<decodeOffsetExport>);

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("PAGE_NUMBER_BITS", kPageNumberBits);
  constants.Set("OFFSET_BITS", kOffsetBits);
  constants.Set("PAGE_TABLE_SIZE", kPageTableSize);
  constants.Set("MAXIMUM_PAGE_SIZE_BYTES", static_cast<double>(kMaximumPageSizeBytes));
  exports.Set("constants", constants);
  return exports;
}

}  // namespace
}  // namespace tungsten::binding

Napi::Object InitTungstenAddon(Napi::Env env, Napi::Object exports) {
  return tungsten::binding::init(env, exports);
}

NODE_API_MODULE(tungsten_addon, InitTungstenAddon)
