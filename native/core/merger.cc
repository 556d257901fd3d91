#include "merger.h"

#include <utility>

namespace tungsten {

Merger::Merger(std::vector<RecordSource*> sources, const KeyComparator& comparator)
    : sources_(std::move(sources)), comparator_(comparator), prefixDecides_(comparator.prefixDecides()) {
  const int k = static_cast<int>(sources_.size());
  heads_.resize(k);
  exhausted_.assign(k, 0);
  keys_.assign(k, 0);
  tree_.assign(k > 0 ? k : 1, -1);
  if (k == 0) return;
  for (int i = 0; i < k; ++i) pull(i);
  // Build bottom-up: leaves sit at k..2k-1, node n's children are 2n and 2n+1.
  std::vector<int> winner(2 * k);
  for (int i = 0; i < k; ++i) winner[k + i] = i;
  for (int n = k - 1; n >= 1; --n) {
    const int left = winner[2 * n];
    const int right = winner[2 * n + 1];
    if (less(right, left)) {
      winner[n] = right;
      tree_[n] = left;
    } else {
      winner[n] = left;
      tree_[n] = right;
    }
  }
  tree_[0] = k == 1 ? 0 : winner[1];
}

void Merger::pull(int source) {
  const bool exhausted = !sources_[source]->next(heads_[source]);
  exhausted_[source] = exhausted;
  keys_[source] = (OrderKey{exhausted} << 64) | (exhausted ? 0 : heads_[source].prefix);
}

bool Merger::less(int a, int b) const {
  if (prefixDecides_) {
    const OrderKey ka = keys_[a];
    const OrderKey kb = keys_[b];
    return (ka < kb) | ((ka == kb) & (a < b));
  }
  if (exhausted_[a]) return false;
  if (exhausted_[b]) return true;
  const int c = comparator_.compareRecords(heads_[a].prefix, heads_[a].record, heads_[b].prefix, heads_[b].record);
  return c < 0 || (c == 0 && a < b);
}

void Merger::replay(int source) {
  const int k = static_cast<int>(sources_.size());
  int winner = source;
  if (prefixDecides_) {
    // The common case, kept free of calls and branches: compare order keys, then indexes.
    OrderKey winnerKey = keys_[winner];
    for (int node = (source + k) / 2; node > 0; node /= 2) {
      const int challenger = tree_[node];
      const OrderKey challengerKey = keys_[challenger];
      const bool challengerWins = (challengerKey < winnerKey) | ((challengerKey == winnerKey) & (challenger < winner));
      tree_[node] = challengerWins ? winner : challenger;
      winner = challengerWins ? challenger : winner;
      winnerKey = challengerWins ? challengerKey : winnerKey;
    }
    tree_[0] = winner;
    return;
  }
  for (int node = (source + k) / 2; node > 0; node /= 2) {
    const int challenger = tree_[node];
    const bool challengerWins = less(challenger, winner);
    tree_[node] = challengerWins ? winner : challenger;  // selects, not branches
    winner = challengerWins ? challenger : winner;
  }
  tree_[0] = winner;
}

void Merger::settle() {
  if (pending_ < 0) return;
  const int source = pending_;
  pending_ = -1;
  pull(source);
  replay(source);
}

bool Merger::next(RecordRef& out) {
  if (sources_.empty()) return false;
  settle();
  const int winner = tree_[0];
  if (exhausted_[winner]) return false;
  out = heads_[winner];
  pending_ = winner;
  return true;
}

void Merger::replaceSource(size_t index, RecordSource* source) {
  settle();
  sources_[index] = source;
  if (!exhausted_[index]) pull(static_cast<int>(index));
}

}  // namespace tungsten
