// Shared glue of the addon: errors, handle and argument checks, and the promise worker that
// runs native/core work off the event loop. Nothing here decides policy.
#pragma once

#include <napi.h>
#include <time.h>

#include <atomic>

#include <cmath>
#include <exception>
#include <memory>
#include <new>
#include <initializer_list>
#include <string>
#include <utility>

#include "errors.h"
#include "handles.h"

namespace tungsten::binding {

struct AddonData {
  Napi::FunctionReference errorFactory;
};

inline constexpr const char* kErrorCodeInvalidHandle = "INVALID_HANDLE";

// The error JavaScript sees: the TypeScript class registered for `code` when there is one.
inline Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    Napi::Value error = data->errorFactory.Call({Napi::String::New(env, code), Napi::String::New(env, message)});
    if (error.IsObject()) return Napi::Error(env, error);
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

struct HandleError {
  std::string message;
};

// A failure captured on a worker thread, to be raised on the main thread.
struct CapturedError {
  std::string code;
  std::string message;
};

// Classifies the exception being handled (call inside a catch block).
inline CapturedError captureCurrentException() {
  try {
    throw;
  } catch (const HandleError& e) {
    return {kErrorCodeInvalidHandle, e.message};
  } catch (const Error& e) {
    return {errorCodeName(e.code()), e.what()};
  } catch (const std::bad_alloc&) {
    return {"NATIVE_OUT_OF_MEMORY", "native code could not allocate its bookkeeping"};
  } catch (const std::exception& e) {
    return {"INTERNAL", e.what()};
  }
}

template <typename Handle>
Handle& unwrap(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  Napi::Value value = info[index];
  if (!value.IsExternal() || !value.As<Napi::External<Handle>>().CheckTypeTag(&Handle::kTag)) {
    throw HandleError{std::string("argument '") + argument + "' must be a " + Handle::kName + " handle"};
  }
  return *value.As<Napi::External<Handle>>().Data();
}

inline PageTableHandle& openTableHandle(const Napi::CallbackInfo& info, size_t index) {
  PageTableHandle& handle = unwrap<PageTableHandle>(info, index, "pageTable");
  if (!handle.table) throw HandleError{"the PageTable handle is closed"};
  return handle;
}

inline TaskPageTable& openTable(const Napi::CallbackInfo& info, size_t index) {
  return *openTableHandle(info, index).table;
}

inline std::shared_ptr<MemoryBlock>& blockOf(const Napi::CallbackInfo& info, size_t index) {
  return unwrap<BlockHandle>(info, index, "block").block;
}

struct Bytes {
  const uint8_t* data = nullptr;
  size_t length = 0;
};

// The bytes of a typed array. An empty ArrayBuffer may have no data pointer at all; native/core
// is promised a valid one (column_types.h), so an empty array gets a pointer to nothing.
inline Bytes typedArrayBytes(Napi::Value value, const char* what) {
  static const uint8_t kNothing[1] = {0};
  if (!value.IsTypedArray()) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must be a typed array");
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  const uint8_t* base = static_cast<const uint8_t*>(array.ArrayBuffer().Data());
  return {base == nullptr ? kNothing : base + array.ByteOffset(), array.ByteLength()};
}

// Byte counts travel as JavaScript numbers; they must be exact non-negative integers.
inline uint64_t byteCount(Napi::Value value, const char* argument) {
  double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!value.IsNumber() || !(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("argument '") + argument + "' must be a whole number between 0 and 2^53 - 1");
  }
  return static_cast<uint64_t>(d);
}

inline uint64_t byteCount(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  return byteCount(info[index], argument);
}

inline uint64_t bigintArgument(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  Napi::Value value = info[index];
  bool lossless = false;
  uint64_t result = value.IsBigInt() ? value.As<Napi::BigInt>().Uint64Value(&lossless) : 0;
  if (!lossless) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("argument '") + argument + "' must be a bigint between 0 and 2^64 - 1");
  }
  return result;
}

inline std::string stringArgument(const Napi::CallbackInfo& info, size_t index, const char* argument) {
  if (!info[index].IsString()) {
    throw Error(ErrorCode::kInvalidArgument, std::string("argument '") + argument + "' must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
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
  } catch (...) {
    CapturedError error = captureCurrentException();
    throw makeError(env, error.code, error.message);
  }
}

// Work for a libuv worker thread that settles a promise (sharp's pattern): the constructor runs
// on the main thread and copies every input into plain C++ members; Execute() runs pure C++ on
// the worker; Resolve() runs on the main thread again and builds the JavaScript result. The
// inputs' JavaScript objects are kept alive by `keepAlive` until the promise settles.
// How many workers run native code at this moment, and the most seen since the last reset: the
// observable proof that tasks of different slots really run their native work at the same time
// (a test reads it instead of timing anything).
struct WorkerGauge {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
};
inline WorkerGauge& workerGauge() {
  static WorkerGauge gauge;
  return gauge;
}

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "tungsten"), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Queue() {
    Napi::AsyncWorker::Queue();
    return deferred_.Promise();
  }

  void KeepAlive(Napi::Value value) { keepAlive_.push_back(Napi::Persistent(value)); }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;
  virtual void Finally() {}
  // The CPU time Run() took on its worker thread (called on that thread).
  virtual void recordCpuNanos(uint64_t) {}

 private:
  static uint64_t threadCpuNanos() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
  }

  void Execute() override {
    WorkerGauge& gauge = workerGauge();
    const int now = gauge.running.fetch_add(1) + 1;
    for (int seen = gauge.peak.load(); now > seen && !gauge.peak.compare_exchange_weak(seen, now);) {
    }
    const uint64_t cpuStart = threadCpuNanos();
    try {
      Run();
    } catch (...) {
      error_ = captureCurrentException();
      failed_ = true;
    }
    recordCpuNanos(threadCpuNanos() - cpuStart);
    gauge.running.fetch_sub(1);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Finally();
    if (failed_) {
      deferred_.Reject(makeError(env, error_.code, error_.message).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      CapturedError error = captureCurrentException();
      deferred_.Reject(makeError(env, error.code, error.message).Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    Finally();
    deferred_.Reject(e.Value());
  }

  Napi::Promise::Deferred deferred_;
  std::vector<Napi::Reference<Napi::Value>> keepAlive_;
  CapturedError error_;
  bool failed_ = false;
};

// A plain object of numbers (counters and sizes reported to JavaScript).
inline Napi::Object numbersObject(Napi::Env env, std::initializer_list<std::pair<const char*, double>> fields) {
  Napi::Object object = Napi::Object::New(env);
  for (const auto& [name, value] : fields) object.Set(name, value);
  return object;
}

void registerMemoryExports(Napi::Env env, Napi::Object exports);
void registerSorterExports(Napi::Env env, Napi::Object exports);
void registerAggregatorExports(Napi::Env env, Napi::Object exports);
void registerShuffleExports(Napi::Env env, Napi::Object exports);

inline void addExport(Napi::Env env, Napi::Object exports, const char* name,
                      Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace tungsten::binding
