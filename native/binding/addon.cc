// The tungsten addon: glue between src/native/addon.ts (the typed contract) and native/core.
//
// Every export checks its arguments and handles, converts them, calls native/core, and turns a
// tungsten::Error into the TypeScript error class for its code through the factory that
// src/native/addon.ts registers at load time. Nothing here decides policy: the page table
// allocates only the bytes its caller says were granted.
#include <napi.h>

#include "binding.h"
#include "operators.h"

namespace tungsten::binding {
namespace {

Napi::Value workerConcurrency(const Napi::CallbackInfo& info) {
  WorkerGauge& gauge = workerGauge();
  return numbersObject(info.Env(), {{"running", static_cast<double>(gauge.running.load())},
                                    {"peak", static_cast<double>(gauge.peak.load())}});
}

Napi::Value workerConcurrencyReset(const Napi::CallbackInfo& info) {
  WorkerGauge& gauge = workerGauge();
  gauge.peak.store(gauge.running.load());
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  registerMemoryExports(env, exports);
  registerSorterExports(env, exports);
  registerAggregatorExports(env, exports);
  registerShuffleExports(env, exports);
  addExport(env, exports, "workerConcurrency", guarded<workerConcurrency>);
  addExport(env, exports, "workerConcurrencyReset", guarded<workerConcurrencyReset>);
  addExport(env, exports, "releaseOutputBuffers", guarded<releaseOutputBuffers>);
  addExport(env, exports, "outputBytesLive", guarded<outputBytesLive>);
  addExport(env, exports, "releaseCachedOutputBytes", guarded<releaseCachedOutputBytes>);
  return exports;
}

}  // namespace
}  // namespace tungsten::binding

Napi::Object InitTungstenAddon(Napi::Env env, Napi::Object exports) {
  return tungsten::binding::init(env, exports);
}

NODE_API_MODULE(tungsten_addon, InitTungstenAddon)
