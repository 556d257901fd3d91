// K-way merge of sorted record sources with a loser tree (spark-semantics §3.4 uses a priority
// queue; a loser tree needs one comparison per level, log2(k) per record).
//
// Records compare by KeyComparator::compareRecords: first-key nulls, prefix, then the full key
// where the prefix is not exact. Equal records come out lowest source first.
//
// A record returned by next() stays valid until the following next(): the source it came from
// advances only then (or on settle()). replaceSource() swaps a source for another that yields
// the same remaining records, the current head first; the spill of the in-memory run while it
// is being read relies on it, and the tree stays valid because no head changes.
#pragma once

#include <cstddef>
#include <vector>

#include "record_source.h"
#include "sort_key.h"

namespace tungsten {

class Merger : public RecordSource {
 public:
  Merger(std::vector<RecordSource*> sources, const KeyComparator& comparator);

  bool next(RecordRef& out) override;
  // Advances the source of the record last returned, so every head is an unreturned record.
  void settle();
  // Gives back the record last returned: the next call to next() returns it again.
  void pushBack() { pending_ = -1; }
  void replaceSource(size_t index, RecordSource* source);
  size_t numSources() const { return sources_.size(); }
  RecordSource* source(size_t index) const { return sources_[index]; }

 private:
  bool less(int a, int b) const;
  void pull(int source);
  void replay(int source);

  std::vector<RecordSource*> sources_;
  const KeyComparator& comparator_;
  // GCC and Clang's 128-bit integer: a source's order key, (exhausted << 64) | prefix.
  __extension__ typedef unsigned __int128 OrderKey;

  std::vector<RecordRef> heads_;
  std::vector<uint8_t> exhausted_;  // bytes, not vector<bool>: read at every level of every record
  // The prefix alone orders records (no null first key, exact single key): then the tree
  // compares these keys, without branches (random keys make every branch a coin flip).
  std::vector<OrderKey> keys_;
  bool prefixDecides_;
  std::vector<int> tree_;  // tree_[0] is the winner, tree_[1..k) the losers
  int pending_ = -1;
};

}  // namespace tungsten
