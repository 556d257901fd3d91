// A stream of records in sorted order: the in-memory sorter's output, a spill file, a merge.
#pragma once

#include <cstdint>

namespace tungsten {

// A record as the merge sees it: its prefix and its bytes ([u32 len][payload]).
struct RecordRef {
  uint64_t prefix;
  const uint8_t* record;
};

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // The next record, valid until the following call to next() on this source; false at the end.
  virtual bool next(RecordRef& out) = 0;
};

}  // namespace tungsten
