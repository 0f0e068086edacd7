// kcp.h — a reliable, ordered message channel over datagrams, wire-compatible with KCP
// (github.com/skywind3000/kcp), written here from the protocol's description so that
// existing KCP client libraries can talk to the gateway. Every datagram carries one or more
// segments, each with a 24-byte little-endian header:
//   conv u32 | cmd u8 | frg u8 | wnd u16 | ts u32 | sn u32 | una u32 | len u32 | data[len]
// cmd: 81 PUSH (data), 82 ACK, 83 WASK (ask the peer's window), 84 WINS (tell our window).
// frg counts down the fragments still to come of one message (0 = its last). una is the
// next sequence number the sender expects (everything below is acknowledged at once), wnd
// its free receive window. Retransmission: per-segment RTO from smoothed RTT (RFC 6298
// style; doubled, or x1.5 in nodelay mode, on each timeout) and fast retransmit after
// `fast_resend` later segments were acknowledged; congestion window unless no_cwnd.
// One instance per session; not thread-safe. Time is a caller-supplied millisecond clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "behavior/status.h"

namespace behavior {

class Kcp {
 public:
  static constexpr uint8_t kPush = 81, kAck = 82, kWask = 83, kWins = 84;
  static constexpr size_t kHeader = 24;

  // Receives each datagram to send (at most mtu bytes).
  using Output = std::function<void(std::string_view datagram)>;

  Kcp(uint32_t conv, Output output);

  // KCP's knobs: nodelay (min RTO 30 ms instead of 100, gentler backoff), the update
  // interval in ms (10-5000), fast resend after this many later ACKs (0 = off), and no
  // congestion window. The "fast" mode of most clients is (true, 10, 2, true).
  void set_nodelay(bool nodelay, uint32_t interval_ms, int fast_resend, bool no_cwnd);
  void set_windows(uint32_t send_window, uint32_t receive_window);
  Status set_mtu(uint32_t mtu);

  // Queues one message (split into fragments of mtu-24 bytes; at most 255 fragments and
  // less than the receive window). kInvalidArgument when too big.
  Status send(std::string_view message);
  // The next complete message, if any.
  bool receive(std::string* message);
  // One datagram from the peer. kInvalidArgument when it is not well-formed KCP for this
  // conv (the caller should drop it; state is unchanged for the bad segment and after).
  Status input(std::string_view datagram, uint32_t now_ms);
  // Sends what is due: ACKs, window probes, new data within the windows, retransmissions.
  void flush(uint32_t now_ms);
  // Calls flush() when its interval has come; cheap otherwise.
  void update(uint32_t now_ms);
  // When update() next needs to be called (an absolute ms time).
  uint32_t next_update(uint32_t now_ms) const;
  // For a driver that flushes after every input and send (so ACKs and new data leave at
  // once) and keeps its sessions in a timer wheel: in how many ms (0 = now) flush() next
  // has work of its own, a retransmission or a window probe. A delay, not a time, so a
  // driver with a wider clock adds it to its own. False when nothing is timed (all
  // acknowledged and the peer's window open): the session needs no visit until a datagram
  // comes or something is sent. A peer advertising a zero window keeps a probe timed.
  bool next_timer(uint32_t now_ms, uint32_t* in_ms) const;

  uint32_t conv() const { return conv_; }
  size_t waiting_to_send() const { return snd_queue_.size() + snd_buf_.size(); }
  bool dead() const { return dead_; }  // a segment was retransmitted dead_link times
  uint32_t rto() const { return rx_rto_; }

  // The conv of a datagram (its first 4 bytes, little-endian); false if shorter.
  static bool peek_conv(std::string_view datagram, uint32_t* conv);

 private:
  struct Segment {
    uint32_t conv = 0;
    uint8_t cmd = 0;
    uint8_t frg = 0;
    uint16_t wnd = 0;
    uint32_t ts = 0;
    uint32_t sn = 0;
    uint32_t una = 0;
    uint32_t resend_at = 0;
    uint32_t rto = 0;
    uint32_t fastack = 0;
    uint32_t xmit = 0;
    std::string data;
  };

  // A FIFO of segments that costs nothing until used: an idle session's four queues are
  // empty vectors (std::deque allocates a map and a 512-byte block when constructed, which
  // made up most of the gateway's memory per idle UDP session). Popped slots are reclaimed
  // when the queue drains, and the storage is given back if it grew past a few segments.
  class SegmentQueue {
   public:
    using iterator = std::vector<Segment>::iterator;
    bool empty() const { return head_ == v_.size(); }
    size_t size() const { return v_.size() - head_; }
    Segment& front() { return v_[head_]; }
    void push_back(Segment&& s) { v_.push_back(std::move(s)); }
    void pop_front();
    iterator begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
    iterator end() { return v_.end(); }
    std::vector<Segment>::const_iterator begin() const { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
    std::vector<Segment>::const_iterator end() const { return v_.end(); }
    iterator insert(iterator at, Segment&& s) { return v_.insert(at, std::move(s)); }
    iterator erase(iterator at) { return v_.erase(at); }

   private:
    std::vector<Segment> v_;
    size_t head_ = 0;
  };

  void encode(const Segment& s, std::string* out) const;
  void emit(std::string* buf, const Segment& s);  // appends, sending first if the mtu is full
  uint16_t free_window() const;
  void acked_until(uint32_t una);
  void acked(uint32_t sn);
  void update_rtt(int32_t rtt);
  void take_data(Segment&& s);
  void move_ready();
  void shrink();

  uint32_t conv_;
  Output output_;
  uint32_t mtu_ = 1400, mss_ = 1400 - kHeader;
  uint32_t snd_una_ = 0, snd_nxt_ = 0, rcv_nxt_ = 0;
  uint32_t snd_wnd_ = 32, rcv_wnd_ = 128, rmt_wnd_ = 128, cwnd_ = 1, incr_ = 0, ssthresh_ = 2;
  int32_t rx_srtt_ = 0, rx_rttval_ = 0;
  uint32_t rx_rto_ = 200, rx_minrto_ = 100;
  uint32_t interval_ = 100, next_flush_ = 0;
  bool updated_ = false;
  bool nodelay_ = false, no_cwnd_ = false;
  int fast_resend_ = 0;
  uint32_t fast_limit_ = 5;
  uint32_t dead_link_ = 20;
  bool dead_ = false;
  uint32_t probe_ = 0, probe_wait_ = 0, probe_at_ = 0;
  SegmentQueue snd_queue_, snd_buf_, rcv_buf_, rcv_queue_;
  std::vector<std::pair<uint32_t, uint32_t>> acks_;  // (sn, ts) to acknowledge
};

}  // namespace behavior
