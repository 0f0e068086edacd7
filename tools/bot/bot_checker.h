// bot_checker.h — the bot's message checks as pure logic (no I/O, no clock), header-only so
// the unit tests include it directly: own seqs echoed exactly once and in order, per-sender order, latency percentiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace behavior::bot {

// What became of the messages one player sent on one reliable stream (its chat lines, its
// pings, its moves over a reliable transport). Summed over players for the report.
struct EchoCounts {
  uint64_t sent = 0;
  uint64_t delivered = 0;       // came back (in order or late), within the sending session
  uint64_t lost = 0;            // never came back (see EchoTracker for when that is decided)
  uint64_t reordered = 0;       // came back after a later seq of the same stream
  uint64_t duplicated = 0;      // came back more than once
  uint64_t abandoned = 0;       // in flight when the player dropped its connection on purpose
  uint64_t abandoned_by_failure = 0;  // in flight when the connection failed (a fault, an error)
  uint64_t late_abandoned = 0;  // an abandoned one that came back after all, on a later connection
  uint64_t unexpected = 0;      // a seq this player never sent

  void add(const EchoCounts& o) {
    sent += o.sent;
    delivered += o.delivered;
    lost += o.lost;
    reordered += o.reordered;
    duplicated += o.duplicated;
    abandoned += o.abandoned;
    abandoned_by_failure += o.abandoned_by_failure;
    late_abandoned += o.late_abandoned;
    unexpected += o.unexpected;
  }
};

enum class EchoOutcome { kInOrder, kReordered, kDuplicate, kLateAbandoned, kUnexpected };

// One player's own stream of seqs that the server must send back exactly once, in order:
// CHAT → CHAT_MESSAGE, PING → PONG, MOVE → POSITION (reliable transports).
//
// The rules, per session (one authenticated connection):
//  - an echo of a pending seq is delivered; if a higher seq of this session came back
//    before it, it is also counted as reordered;
//  - an echo of a seq that already came back is a duplicate; of a seq never sent, unexpected;
//  - end_session(true), the player dropped its connection on purpose (a reconnect): a
//    pending seq below the highest echoed one was skipped on an ordered channel and is lost;
//    pending seqs above it were still in flight and are "abandoned by reconnect" (not loss:
//    the connection that would have carried the echo is gone). If one shows up later anyway
//    it is late_abandoned. end_session(false), the connection failed: the same rule, but the
//    tail counts as abandoned_by_failure (a message on a connection that broke was never
//    acknowledged; the failure itself is the player's error, so such a run does not pass
//    unless errors are tolerated, as under injected faults);
//  - finish() (the end of the run, after the drain phase waited for echoes): whatever is
//    still pending is lost.
// Seqs passed to sent() must strictly increase over the tracker's whole life (across
// sessions), so an echo always names exactly one send.
class EchoTracker {
 public:
  // Returns false (and records nothing) if seq does not increase.
  bool sent(uint64_t seq, int64_t now_us) {
    if (seq <= last_sent_) return false;
    last_sent_ = seq;
    pending_.emplace(seq, now_us);
    ++counts_.sent;
    return true;
  }

  // rtt_us is set for delivered seqs (kInOrder, kReordered), else left alone.
  EchoOutcome received(uint64_t seq, int64_t now_us, int64_t* rtt_us) {
    if (auto it = pending_.find(seq); it != pending_.end()) {
      if (rtt_us) *rtt_us = now_us - it->second;
      pending_.erase(it);
      ++counts_.delivered;
      if (seq < highest_) {
        ++counts_.reordered;
        return EchoOutcome::kReordered;
      }
      highest_ = seq;
      return EchoOutcome::kInOrder;
    }
    if (abandoned_.erase(seq)) {
      ++counts_.late_abandoned;
      return EchoOutcome::kLateAbandoned;
    }
    if (lost_.erase(seq)) {  // declared lost at a session's end, yet here it is: out of order
      --counts_.lost;
      ++counts_.delivered;
      ++counts_.reordered;
      return EchoOutcome::kReordered;
    }
    if (seq == 0 || seq > last_sent_) {
      ++counts_.unexpected;
      return EchoOutcome::kUnexpected;
    }
    ++counts_.duplicated;
    return EchoOutcome::kDuplicate;
  }

  // deliberate: the player dropped the connection itself (a reconnect); otherwise the
  // connection failed. Either way a skipped seq (below the highest echoed) is lost.
  void end_session(bool deliberate) {
    for (const auto& [seq, at] : pending_) {
      if (seq < highest_) {
        ++counts_.lost;
        lost_.insert(seq);
      } else {
        ++(deliberate ? counts_.abandoned : counts_.abandoned_by_failure);
        abandoned_.insert(seq);
      }
    }
    pending_.clear();
    highest_ = 0;
  }

  void finish() {
    for (const auto& [seq, at] : pending_) {
      ++counts_.lost;
      lost_.insert(seq);
    }
    pending_.clear();
  }

  size_t pending() const { return pending_.size(); }
  uint64_t last_sent() const { return last_sent_; }
  const EchoCounts& counts() const { return counts_; }

 private:
  std::map<uint64_t, int64_t> pending_;  // seq → send time (µs), this session
  std::unordered_set<uint64_t> abandoned_;
  std::unordered_set<uint64_t> lost_;
  uint64_t highest_ = 0;  // highest seq echoed in this session
  uint64_t last_sent_ = 0;
  EchoCounts counts_;
};

enum class OrderOutcome { kInOrder, kReordered, kDuplicate, kOldSession };

// Another player's messages as one receiver sees them: per sender, seqs must strictly
// increase. Senders tag each message with their session number (their connection count):
// a message from an older session than one already seen comes from a connection the sender
// has dropped and is not an ordering error (kOldSession); a newer session starts afresh.
class SenderOrder {
 public:
  OrderOutcome received(const std::string& sender, uint64_t session, uint64_t seq) {
    auto [it, fresh] = last_.try_emplace(sender, Last{session, seq});
    if (fresh) return OrderOutcome::kInOrder;
    Last& last = it->second;
    if (session < last.session) return OrderOutcome::kOldSession;
    if (session > last.session || seq > last.seq) {
      last = Last{session, seq};
      return OrderOutcome::kInOrder;
    }
    return seq == last.seq ? OrderOutcome::kDuplicate : OrderOutcome::kReordered;
  }
  size_t senders() const { return last_.size(); }

 private:
  struct Last {
    uint64_t session;
    uint64_t seq;
  };
  std::unordered_map<std::string, Last> last_;
};

// The bot's chat text carries the sender's session: "s<session> <anything>". Returns 0 when
// the text has no such tag (a client other than the bot).
inline uint64_t chat_session(std::string_view text) {
  if (text.size() < 3 || text[0] != 's') return 0;
  uint64_t session = 0;
  size_t i = 1;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 19; ++i) {
    session = session * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 1 || i >= text.size() || text[i] != ' ') return 0;
  return session;
}

// Round-trip samples in microseconds; percentiles by the nearest-rank method.
class LatencySamples {
 public:
  void add(int64_t us) {
    samples_.push_back(us < 0 ? 0 : us);
    sorted_ = false;
  }
  void merge(const LatencySamples& o) {
    samples_.insert(samples_.end(), o.samples_.begin(), o.samples_.end());
    sorted_ = false;
  }
  size_t size() const { return samples_.size(); }
  // p in (0, 100]; 0 when there are no samples. Sorts on first use after adding.
  int64_t percentile(double p) {
    if (samples_.empty()) return 0;
    if (!sorted_) {
      std::sort(samples_.begin(), samples_.end());
      sorted_ = true;
    }
    // The smallest sample with at least p% of the samples at or below it.
    const double rank = std::ceil(p / 100.0 * static_cast<double>(samples_.size()));
    const size_t index = rank < 1.0 ? 0 : static_cast<size_t>(rank) - 1;
    return samples_[std::min(index, samples_.size() - 1)];
  }
  int64_t max() { return percentile(100.0); }

 private:
  std::vector<int64_t> samples_;
  bool sorted_ = true;
};

}  // namespace behavior::bot
