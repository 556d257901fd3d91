// Exports for native page memory: the allocator, blocks, task page tables, addresses; and Arrow
// IPC record-batch messages written straight into off-heap blocks (ipcMessageBytes and
// ipcWriteMessage, the OFF_HEAP storage level's serialized form of a batch).
#include <napi.h>

#include <cstring>
#include <string>

#include "arrow_ipc.h"
#include "binding.h"
#include "operators.h"
#include "page_address.h"
#include "page_allocator.h"
#include "task_page_table.h"

namespace tungsten::binding {
namespace {

Napi::Value blockOrNull(Napi::Env env, std::shared_ptr<MemoryBlock> block) {
  if (!block) return env.Null();
  return wrapHandle(env, new BlockHandle{std::move(block)});
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
  Napi::Array codes = Napi::Array::New(env);
  uint32_t i = 0;
  for (ErrorCode code : kAllErrorCodes) codes.Set(i++, errorCodeName(code));
  for (const char* code : {kErrorCodeInvalidHandle, "NATIVE_OUT_OF_MEMORY", "INTERNAL"}) {
    codes.Set(i++, code);
  }
  return codes;
}

Napi::Value allocatorStats(const Napi::CallbackInfo& info) {
  const AllocatorStats stats = PageAllocator::instance().stats();
  return numbersObject(info.Env(), {{"liveBytes", static_cast<double>(stats.liveBytes)},
                                    {"liveBlocks", static_cast<double>(stats.liveBlocks)},
                                    {"peakLiveBytes", static_cast<double>(stats.peakLiveBytes)},
                                    {"totalAllocations", static_cast<double>(stats.totalAllocations)}});
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
  PageAllocator::instance().free(*blockOf(info, 0));
  return info.Env().Undefined();
}

Napi::Value blockPageNumber(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), blockOf(info, 0)->pageNumber);
}

Napi::Value blockSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(blockOf(info, 0)->size));
}

Napi::Value blockBaseAddress(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(blockOf(info, 0)->baseAddress()));
}

// The live block's bytes [offset, offset + length), or INVALID_PAGE_STATE / INVALID_ARGUMENT.
uint8_t* blockRange(const MemoryBlock& block, uint64_t offset, uint64_t length) {
  if (block.data == nullptr || block.pageNumber == kFreedInAllocatorPageNumber || block.pageNumber == kFreedInTmmPageNumber) {
    throw Error(ErrorCode::kInvalidPageState, "the block was freed");
  }
  if (offset > block.size || length > block.size - offset) {
    throw Error(ErrorCode::kInvalidArgument, "bytes [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                                                 ") are outside the block of " + std::to_string(block.size) + " bytes");
  }
  return block.data + offset;
}

// Copies a typed array's bytes into a live block at `offset` (off-heap storage of serialized
// blocks; the block was allocated after storage memory was granted).
Napi::Value blockWrite(const Napi::CallbackInfo& info) {
  MemoryBlock& block = *blockOf(info, 0);
  uint64_t offset = byteCount(info[1], "offset");
  Bytes bytes = typedArrayBytes(info[2], "bytes");
  std::memcpy(blockRange(block, offset, bytes.length), bytes.data, bytes.length);
  return info.Env().Undefined();
}

// A copy of `length` bytes of a live block from `offset`, as a new Buffer: a view would outlive
// the block if the block were freed while JavaScript still held it.
Napi::Value blockRead(const Napi::CallbackInfo& info) {
  MemoryBlock& block = *blockOf(info, 0);
  uint64_t offset = byteCount(info[1], "offset");
  uint64_t length = byteCount(info[2], "length");
  const uint8_t* source = blockRange(block, offset, length);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), source, length);
}

Napi::Value pageTableCreate(const Napi::CallbackInfo& info) {
  auto* handle = new PageTableHandle{std::make_shared<TaskPageTable>(PageAllocator::instance())};
  return wrapHandle(info.Env(), handle);
}

Napi::Value pageTableAllocatePage(const Napi::CallbackInfo& info) {
  TaskPageTable& table = openTable(info, 0);
  return blockOrNull(info.Env(), table.allocatePage(byteCount(info, 1, "grantedBytes")));
}

Napi::Value pageTableFreePage(const Napi::CallbackInfo& info) {
  openTable(info, 0).freePage(*blockOf(info, 1));
  return info.Env().Undefined();
}

Napi::Value pageTableGrowPage(const Napi::CallbackInfo& info) {
  TaskPageTable& table = openTable(info, 0);
  return Napi::Boolean::New(info.Env(), table.growPage(*blockOf(info, 1), byteCount(info, 2, "grantedBytes")));
}

Napi::Value pageTableFreeAllPages(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(openTable(info, 0).freeAllPages()));
}

Napi::Value pageTableLivePages(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), openTable(info, 0).livePages());
}

Napi::Value pageTableEncodeAbsolute(const Napi::CallbackInfo& info) {
  TaskPageTable& table = openTable(info, 0);
  MemoryBlock& page = *blockOf(info, 1);
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

// ipcMessageBytes(batch, types) -> the bytes of its uncompressed record-batch message.
Napi::Value ipcMessageBytes(const Napi::CallbackInfo& info) {
  const BorrowedBatch batch = borrowBatch(info[0], columnTypesOf(info[1], "column type"), "message");
  validateOffsets(batch);  // the last offset sizes a var-width column's values
  return Napi::Number::New(info.Env(), static_cast<double>(recordBatchMessageBytes(batch.view)));
}

// ipcWriteMessage(block, batch, types) -> bytes written from the block's start: on a worker, as
// it copies the whole batch (tens of MB for a task's result). The block must be live and hold
// ipcMessageBytes; the caller keeps it and the batch until the promise settles.
class WriteMessageWorker : public PromiseWorker {
 public:
  WriteMessageWorker(const Napi::CallbackInfo& info, std::shared_ptr<MemoryBlock> block, BorrowedBatch batch)
      : PromiseWorker(info.Env()), block_(std::move(block)), batch_(std::move(batch)) {
    KeepAlive(info[0]);
    for (const Napi::Value& buffer : batch_.buffers) KeepAlive(buffer);
    batch_.buffers.clear();
  }
  void Run() override {
    validateOffsets(batch_);
    uint8_t* out = blockRange(*block_, 0, block_->size);
    written_ = writeRecordBatchMessage(batch_.view, out, block_->size);
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(written_)); }

 private:
  std::shared_ptr<MemoryBlock> block_;
  BorrowedBatch batch_;
  uint64_t written_ = 0;
};

Napi::Value ipcWriteMessage(const Napi::CallbackInfo& info) {
  std::shared_ptr<MemoryBlock> block = blockOf(info, 0);
  blockRange(*block, 0, block->size);  // freed: refused before anything is queued
  BorrowedBatch batch = borrowBatch(info[1], columnTypesOf(info[2], "column type"), "message");
  return (new WriteMessageWorker(info, std::move(block), std::move(batch)))->Queue();
}

}  // namespace

void registerMemoryExports(Napi::Env env, Napi::Object exports) {
  addExport(env, exports, "ipcMessageBytes", guarded<ipcMessageBytes>);
  addExport(env, exports, "ipcWriteMessage", guarded<ipcWriteMessage>);
  addExport(env, exports, "setErrorFactory", guarded<setErrorFactory>);
  addExport(env, exports, "errorCodes", guarded<errorCodes>);
  addExport(env, exports, "allocatorStats", guarded<allocatorStats>);
  addExport(env, exports, "allocatorSetDebugFill", guarded<allocatorSetDebugFill>);
  addExport(env, exports, "allocatorDebugFill", guarded<allocatorDebugFill>);
  addExport(env, exports, "allocatorFailNextAllocations", guarded<allocatorFailNextAllocations>);
  addExport(env, exports, "allocatorAllocate", guarded<allocatorAllocate>);
  addExport(env, exports, "allocatorFree", guarded<allocatorFree>);
  addExport(env, exports, "blockPageNumber", guarded<blockPageNumber>);
  addExport(env, exports, "blockSize", guarded<blockSize>);
  addExport(env, exports, "blockBaseAddress", guarded<blockBaseAddress>);
  addExport(env, exports, "blockWrite", guarded<blockWrite>);
  addExport(env, exports, "blockRead", guarded<blockRead>);
  addExport(env, exports, "pageTableCreate", guarded<pageTableCreate>);
  addExport(env, exports, "pageTableAllocatePage", guarded<pageTableAllocatePage>);
  addExport(env, exports, "pageTableFreePage", guarded<pageTableFreePage>);
  addExport(env, exports, "pageTableGrowPage", guarded<pageTableGrowPage>);
  addExport(env, exports, "pageTableFreeAllPages", guarded<pageTableFreeAllPages>);
  addExport(env, exports, "pageTableLivePages", guarded<pageTableLivePages>);
  addExport(env, exports, "pageTableEncodeAbsolute", guarded<pageTableEncodeAbsolute>);
  addExport(env, exports, "pageTableAbsoluteAddress", guarded<pageTableAbsoluteAddress>);
  addExport(env, exports, "pageTableClose", guarded<pageTableClose>);
  addExport(env, exports, "encodePageNumberAndOffset", guarded<encodePageNumberAndOffsetExport>);
  addExport(env, exports, "decodePageNumber", guarded<decodePageNumberExport>);
  addExport(env, exports, "decodeOffset", guarded<decodeOffsetExport>);

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("PAGE_NUMBER_BITS", kPageNumberBits);
  constants.Set("OFFSET_BITS", kOffsetBits);
  constants.Set("PAGE_TABLE_SIZE", kPageTableSize);
  constants.Set("MAXIMUM_PAGE_SIZE_BYTES", static_cast<double>(kMaximumPageSizeBytes));
  exports.Set("constants", constants);
}

}  // namespace tungsten::binding
