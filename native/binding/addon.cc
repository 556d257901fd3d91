// The tungsten addon: glue between src/native/addon.ts (the typed contract) and native/core.
//
// Every export checks its arguments and handles, converts them, calls native/core, and turns a
// tungsten::Error into the TypeScript error class for its code through the factory that
// src/native/addon.ts registers at load time. Nothing here decides policy: the page table
// allocates only the bytes its caller says were granted.
#include <napi.h>

#include "binding.h"

namespace tungsten::binding {
namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  registerMemoryExports(env, exports);
  registerSorterExports(env, exports);
  registerAggregatorExports(env, exports);
  registerShuffleExports(env, exports);
  return exports;
}

}  // namespace
}  // namespace tungsten::binding

Napi::Object InitTungstenAddon(Napi::Env env, Napi::Object exports) {
  return tungsten::binding::init(env, exports);
}

NODE_API_MODULE(tungsten_addon, InitTungstenAddon)
