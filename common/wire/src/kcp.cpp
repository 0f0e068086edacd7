// kcp.cpp — see kcp.h. Sequence numbers and timestamps wrap: they are compared through
// their signed difference, never directly.
#include "behavior/kcp.h"

#include <algorithm>

namespace behavior {
namespace {

constexpr uint32_t kProbeAskSend = 1, kProbeAskTell = 2;
constexpr uint32_t kProbeInit = 7000, kProbeLimit = 120000;
constexpr uint32_t kRtoMax = 60000;

int32_t diff(uint32_t later, uint32_t earlier) { return static_cast<int32_t>(later - earlier); }

void put8(uint8_t v, std::string* out) { out->push_back(static_cast<char>(v)); }
void put16(uint16_t v, std::string* out) {
  put8(static_cast<uint8_t>(v), out);
  put8(static_cast<uint8_t>(v >> 8), out);
}
void put32(uint32_t v, std::string* out) {
  put16(static_cast<uint16_t>(v), out);
  put16(static_cast<uint16_t>(v >> 16), out);
}
uint16_t get16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
uint32_t get32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} | (uint32_t{u[1]} << 8) | (uint32_t{u[2]} << 16) | (uint32_t{u[3]} << 24);
}

}  // namespace

Kcp::Kcp(uint32_t conv, Output output) : conv_(conv), output_(std::move(output)) {}

bool Kcp::peek_conv(std::string_view datagram, uint32_t* conv) {
  if (datagram.size() < 4) return false;
  *conv = get32(datagram.data());
  return true;
}

void Kcp::set_nodelay(bool nodelay, uint32_t interval_ms, int fast_resend, bool no_cwnd) {
  nodelay_ = nodelay;
  rx_minrto_ = nodelay ? 30 : 100;
  interval_ = std::clamp<uint32_t>(interval_ms, 10, 5000);
  fast_resend_ = std::max(0, fast_resend);
  no_cwnd_ = no_cwnd;
}

void Kcp::set_windows(uint32_t send_window, uint32_t receive_window) {
  if (send_window > 0) snd_wnd_ = send_window;
  if (receive_window > 0) rcv_wnd_ = std::max<uint32_t>(receive_window, 128);  // room for a whole message
}

Status Kcp::set_mtu(uint32_t mtu) {
  if (mtu < 50 || mtu > 65000) return Status::invalid_argument("mtu must be 50-65000");
  mtu_ = mtu;
  mss_ = mtu - kHeader;
  return {};
}

// ---------------------------------------------------------------------------------------
// The application's side.

Status Kcp::send(std::string_view message) {
  size_t count = message.empty() ? 1 : (message.size() + mss_ - 1) / mss_;
  if (count > 255 || count >= rcv_wnd_) return Status::invalid_argument("message too big for one KCP message");
  for (size_t i = 0; i < count; ++i) {
    Segment s;
    s.data.assign(message.substr(i * mss_, mss_));
    s.frg = static_cast<uint8_t>(count - i - 1);
    snd_queue_.push_back(std::move(s));
  }
  return {};
}

bool Kcp::receive(std::string* message) {
  if (rcv_queue_.empty()) return false;
  const size_t need = size_t{rcv_queue_.front().frg} + 1;
  if (rcv_queue_.size() < need) return false;
  const bool was_full = rcv_queue_.size() >= rcv_wnd_;
  message->clear();
  for (size_t i = 0; i < need; ++i) {
    message->append(rcv_queue_.front().data);
    rcv_queue_.pop_front();
  }
  move_ready();
  if (was_full && rcv_queue_.size() < rcv_wnd_) probe_ |= kProbeAskTell;  // the window reopened: say so
  return true;
}

// ---------------------------------------------------------------------------------------
// Input.

Status Kcp::input(std::string_view datagram, uint32_t now) {
  if (datagram.size() < kHeader) return Status::invalid_argument("KCP datagram shorter than a header");
  const uint32_t una_before = snd_una_;
  bool any_ack = false;
  uint32_t max_ack = 0, max_ack_ts = 0;
  const char* p = datagram.data();
  size_t left = datagram.size();
  while (left >= kHeader) {
    Segment s;
    s.conv = get32(p);
    s.cmd = static_cast<uint8_t>(p[4]);
    s.frg = static_cast<uint8_t>(p[5]);
    s.wnd = get16(p + 6);
    s.ts = get32(p + 8);
    s.sn = get32(p + 12);
    s.una = get32(p + 16);
    const uint32_t len = get32(p + 20);
    if (s.conv != conv_) return Status::invalid_argument("KCP segment for another conv");
    if (len > left - kHeader) return Status::invalid_argument("KCP segment longer than the datagram");
    if (s.cmd != kPush && s.cmd != kAck && s.cmd != kWask && s.cmd != kWins) {
      return Status::invalid_argument("unknown KCP command " + std::to_string(s.cmd));
    }
    rmt_wnd_ = s.wnd;
    acked_until(s.una);
    shrink();
    switch (s.cmd) {
      case kAck:
        if (diff(now, s.ts) >= 0) update_rtt(diff(now, s.ts));
        acked(s.sn);
        shrink();
        if (!any_ack || diff(s.sn, max_ack) > 0) {
          any_ack = true;
          max_ack = s.sn;
          max_ack_ts = s.ts;
        }
        break;
      case kPush:
        if (diff(s.sn, rcv_nxt_ + rcv_wnd_) < 0) {
          acks_.emplace_back(s.sn, s.ts);
          if (diff(s.sn, rcv_nxt_) >= 0) {
            s.data.assign(p + kHeader, len);
            take_data(std::move(s));
          }
        }
        break;
      case kWask:
        probe_ |= kProbeAskTell;
        break;
      default:  // kWins: the window is in the header, already taken
        break;
    }
    p += kHeader + len;
    left -= kHeader + len;
  }
  if (any_ack) {
    // Fast retransmit: segments sent before a later one that was acknowledged were skipped.
    for (Segment& s : snd_buf_) {
      if (diff(max_ack, s.sn) <= 0) break;
      if (diff(max_ack_ts, s.ts) >= 0) ++s.fastack;
    }
  }
  if (diff(snd_una_, una_before) > 0 && cwnd_ < rmt_wnd_) {
    // Congestion window: slow start below ssthresh, then additive increase.
    const uint32_t mss = mss_;
    if (cwnd_ < ssthresh_) {
      ++cwnd_;
      incr_ += mss;
    } else {
      incr_ = std::max(incr_, mss);
      incr_ += (mss * mss) / incr_ + mss / 16;
      if ((cwnd_ + 1) * mss <= incr_) cwnd_ = (incr_ + mss - 1) / std::max<uint32_t>(mss, 1);
    }
    if (cwnd_ > rmt_wnd_) {
      cwnd_ = rmt_wnd_;
      incr_ = rmt_wnd_ * mss;
    }
  }
  return {};
}

void Kcp::update_rtt(int32_t rtt) {
  if (rx_srtt_ == 0) {
    rx_srtt_ = rtt;
    rx_rttval_ = rtt / 2;
  } else {
    int32_t delta = std::abs(rtt - rx_srtt_);
    rx_rttval_ = (3 * rx_rttval_ + delta) / 4;
    rx_srtt_ = std::max<int32_t>(1, (7 * rx_srtt_ + rtt) / 8);
  }
  const uint32_t rto = static_cast<uint32_t>(rx_srtt_) + std::max<uint32_t>(interval_, 4 * static_cast<uint32_t>(rx_rttval_));
  rx_rto_ = std::clamp(rto, rx_minrto_, kRtoMax);
}

void Kcp::acked_until(uint32_t una) {
  while (!snd_buf_.empty() && diff(una, snd_buf_.front().sn) > 0) snd_buf_.pop_front();
}

void Kcp::acked(uint32_t sn) {
  if (diff(sn, snd_una_) < 0 || diff(sn, snd_nxt_) >= 0) return;
  for (auto it = snd_buf_.begin(); it != snd_buf_.end(); ++it) {
    if (it->sn == sn) {
      snd_buf_.erase(it);
      return;
    }
    if (diff(sn, it->sn) < 0) return;
  }
}

void Kcp::SegmentQueue::pop_front() {
  v_[head_].data = std::string();  // the payload goes now, not when the slot is reused
  if (++head_ < v_.size()) {
    if (head_ >= 64 && head_ * 2 >= v_.size()) {  // a long-lived backlog: drop the popped prefix
      v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return;
  }
  head_ = 0;
  if (v_.capacity() > 8) {
    std::vector<Segment>().swap(v_);  // drained after a burst: give the storage back
  } else {
    v_.clear();
  }
}

void Kcp::shrink() { snd_una_ = snd_buf_.empty() ? snd_nxt_ : snd_buf_.front().sn; }

void Kcp::take_data(Segment&& s) {
  // rcv_buf_ is ordered by sn; duplicates are dropped.
  auto it = rcv_buf_.end();
  while (it != rcv_buf_.begin()) {
    auto prev = std::prev(it);
    if (prev->sn == s.sn) return;
    if (diff(s.sn, prev->sn) > 0) break;
    it = prev;
  }
  rcv_buf_.insert(it, std::move(s));
  move_ready();
}

void Kcp::move_ready() {
  while (!rcv_buf_.empty() && rcv_buf_.front().sn == rcv_nxt_ && rcv_queue_.size() < rcv_wnd_) {
    rcv_queue_.push_back(std::move(rcv_buf_.front()));
    rcv_buf_.pop_front();
    ++rcv_nxt_;
  }
}

// ---------------------------------------------------------------------------------------
// Output.

uint16_t Kcp::free_window() const {
  return static_cast<uint16_t>(rcv_queue_.size() < rcv_wnd_ ? std::min<size_t>(rcv_wnd_ - rcv_queue_.size(), 65535) : 0);
}

void Kcp::encode(const Segment& s, std::string* out) const {
  put32(s.conv, out);
  put8(s.cmd, out);
  put8(s.frg, out);
  put16(s.wnd, out);
  put32(s.ts, out);
  put32(s.sn, out);
  put32(s.una, out);
  put32(static_cast<uint32_t>(s.data.size()), out);
  out->append(s.data);
}

void Kcp::emit(std::string* buf, const Segment& s) {
  if (buf->size() + kHeader + s.data.size() > mtu_ && !buf->empty()) {
    output_(*buf);
    buf->clear();
  }
  encode(s, buf);
}

void Kcp::flush(uint32_t now) {
  // One datagram buffer per thread, not per call: a gateway flushes thousands of sessions
  // every few milliseconds, and a fresh mtu-sized string each time was a malloc and a free
  // per flush. Taken by move, so a re-entrant flush (from output_) gets its own.
  static thread_local std::string spare;
  std::string buf = std::move(spare);
  buf.clear();
  buf.reserve(mtu_);
  Segment ctl;
  ctl.conv = conv_;
  ctl.wnd = free_window();
  ctl.una = rcv_nxt_;

  ctl.cmd = kAck;
  for (auto [sn, ts] : acks_) {
    ctl.sn = sn;
    ctl.ts = ts;
    emit(&buf, ctl);
  }
  acks_.clear();

  // Window probing: when the peer's window is 0, ask for it now and then.
  if (rmt_wnd_ == 0) {
    if (probe_wait_ == 0) {
      probe_wait_ = kProbeInit;
      probe_at_ = now + probe_wait_;
    } else if (diff(now, probe_at_) >= 0) {
      probe_wait_ = std::min(kProbeLimit, std::max(kProbeInit, probe_wait_ + probe_wait_ / 2));
      probe_at_ = now + probe_wait_;
      probe_ |= kProbeAskSend;
    }
  } else {
    probe_wait_ = probe_at_ = 0;
  }
  ctl.sn = ctl.ts = 0;
  if (probe_ & kProbeAskSend) {
    ctl.cmd = kWask;
    emit(&buf, ctl);
  }
  if (probe_ & kProbeAskTell) {
    ctl.cmd = kWins;
    emit(&buf, ctl);
  }
  probe_ = 0;

  // New data, as far as the windows allow.
  uint32_t window = std::min(snd_wnd_, rmt_wnd_);
  if (!no_cwnd_) window = std::min(window, cwnd_);
  while (diff(snd_nxt_, snd_una_ + window) < 0 && !snd_queue_.empty()) {
    Segment s = std::move(snd_queue_.front());
    snd_queue_.pop_front();
    s.conv = conv_;
    s.cmd = kPush;
    s.sn = snd_nxt_++;
    s.ts = now;
    s.resend_at = now;
    s.rto = rx_rto_;
    snd_buf_.push_back(std::move(s));
  }

  const uint32_t resend = fast_resend_ > 0 ? static_cast<uint32_t>(fast_resend_) : UINT32_MAX;
  const uint32_t rto_min = nodelay_ ? 0 : (rx_rto_ >> 3);
  bool lost = false, changed = false;
  for (Segment& s : snd_buf_) {
    bool send_now = false;
    if (s.xmit == 0) {
      send_now = true;
      s.xmit = 1;
      s.rto = rx_rto_;
      s.resend_at = now + s.rto + rto_min;
    } else if (diff(now, s.resend_at) >= 0) {
      send_now = lost = true;
      ++s.xmit;
      s.rto += nodelay_ ? s.rto / 2 : std::max(s.rto, rx_rto_);
      s.resend_at = now + s.rto;
    } else if (s.fastack >= resend && (s.xmit <= fast_limit_ || fast_limit_ == 0)) {
      send_now = changed = true;
      ++s.xmit;
      s.fastack = 0;
      s.resend_at = now + s.rto;
    }
    if (!send_now) continue;
    s.ts = now;
    s.wnd = ctl.wnd;
    s.una = rcv_nxt_;
    emit(&buf, s);
    if (s.xmit >= dead_link_) dead_ = true;
  }
  if (!buf.empty()) output_(buf);
  buf.clear();
  spare = std::move(buf);

  if (changed) {  // fast retransmit: halve
    ssthresh_ = std::max<uint32_t>((snd_nxt_ - snd_una_) / 2, 2);
    cwnd_ = ssthresh_ + resend;
    incr_ = cwnd_ * mss_;
  }
  if (lost) {  // timeout: back to slow start
    ssthresh_ = std::max<uint32_t>(window / 2, 2);
    cwnd_ = 1;
    incr_ = mss_;
  }
  if (cwnd_ < 1) {
    cwnd_ = 1;
    incr_ = mss_;
  }
}

void Kcp::update(uint32_t now) {
  if (!updated_) {
    updated_ = true;
    next_flush_ = now;
  }
  int32_t late = diff(now, next_flush_);
  if (late < -10000 || late > 10000) {
    next_flush_ = now;  // the clock jumped
    late = 0;
  }
  if (late >= 0) {
    next_flush_ += interval_;
    if (diff(now, next_flush_) >= 0) next_flush_ = now + interval_;
    flush(now);
  }
}

uint32_t Kcp::next_update(uint32_t now) const {
  if (!updated_) return now;
  if (diff(now, next_flush_) >= 0 || !acks_.empty()) return now;
  uint32_t next = next_flush_;
  for (const Segment& s : snd_buf_) {
    if (diff(s.resend_at, now) <= 0) return now;
    if (diff(s.resend_at, next) < 0) next = s.resend_at;
  }
  return next;
}

bool Kcp::next_timer(uint32_t now, uint32_t* in_ms) const {
  if (!acks_.empty() || probe_ != 0 || (rmt_wnd_ == 0 && probe_wait_ == 0)) {
    *in_ms = 0;  // flush() has something to send, or a probe to arm
    return true;
  }
  bool any = false;
  uint32_t next = 0;
  auto consider = [&](uint32_t t) {
    if (!any || diff(t, next) < 0) next = t;
    any = true;
  };
  for (const Segment& s : snd_buf_) consider(s.xmit == 0 ? now : s.resend_at);
  if (rmt_wnd_ == 0) consider(probe_at_);
  uint32_t window = std::min(snd_wnd_, rmt_wnd_);
  if (!no_cwnd_) window = std::min(window, cwnd_);
  if (!snd_queue_.empty() && diff(snd_nxt_, snd_una_ + window) < 0) consider(now);  // room for queued data
  *in_ms = any ? static_cast<uint32_t>(std::max<int32_t>(0, diff(next, now))) : 0;  // overdue: now
  return any;
}

}  // namespace behavior
