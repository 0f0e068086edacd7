// kcp_test.cpp — the KCP channel: (1) two endpoints over a channel that drops 20% of the
// datagrams, reorders and duplicates them still deliver every message, in order, both ways,
// in every mode; (2) a peer written independently here, byte by byte from the protocol
// description (not through Kcp's encoder), interoperates: it reads our PUSH segments and
// acknowledges them, and we read its PUSH segments and acknowledge them; (3) malformed
// datagrams are refused without disturbing the session.
#include <behavior/kcp.h>
#include <gtest/gtest.h>

#include <deque>
#include <random>

namespace behavior {
namespace {

struct Channel {
  std::mt19937 rng;
  double loss;
  std::vector<std::pair<uint32_t, std::string>> in_flight;  // (deliver at, datagram)
  void push(std::string_view d, uint32_t now) {
    std::uniform_real_distribution<double> u(0, 1);
    if (u(rng) < loss) return;
    uint32_t delay = 5 + rng() % 40;  // 5-45 ms: reorders
    in_flight.emplace_back(now + delay, std::string(d));
    if (u(rng) < 0.05) in_flight.emplace_back(now + delay + 3, std::string(d));  // duplicate
  }
  template <class F>
  void deliver(uint32_t now, F&& to) {
    for (size_t i = 0; i < in_flight.size();) {
      if (static_cast<int32_t>(now - in_flight[i].first) >= 0) {
        std::string d = std::move(in_flight[i].second);
        in_flight.erase(in_flight.begin() + static_cast<long>(i));
        to(d);
      } else {
        ++i;
      }
    }
  }
};

// by_timer: `a` is driven as the gateway drives its sessions: flushed after every input and
// send, and otherwise only when next_timer() says a retransmission or probe is due.
void run_lossy(bool fast, uint32_t seed, bool by_timer = false) {
  Channel ab{std::mt19937(seed), 0.2, {}}, ba{std::mt19937(seed + 1), 0.2, {}};
  uint32_t now = 0xFFFFF000u;  // the clock wraps during the run
  Kcp a(0x11223344, [&](std::string_view d) { ab.push(d, now); });
  Kcp b(0x11223344, [&](std::string_view d) { ba.push(d, now); });
  if (fast) {
    a.set_nodelay(true, 10, 2, true);
    b.set_nodelay(true, 10, 2, true);
  }
  std::mt19937 sizes(seed);
  std::vector<std::string> sent_a, sent_b;
  for (int i = 0; i < 300; ++i) {
    std::string m = "a" + std::to_string(i) + ":" + std::string(sizes() % 4000, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(a.send(m).ok());
    sent_a.push_back(m);
    std::string n = "b" + std::to_string(i);
    ASSERT_TRUE(b.send(n).ok());
    sent_b.push_back(n);
  }
  std::vector<std::string> got_a, got_b;  // what a and b received
  int steps = 0, a_flushes = 0;
  uint32_t a_at = 0;
  bool a_timed = false;
  auto flush_a = [&] {
    a.flush(now);
    ++a_flushes;
    uint32_t in_ms = 0;
    a_timed = a.next_timer(now, &in_ms);
    a_at = now + in_ms;
  };
  if (by_timer) flush_a();
  for (int step = 0; step < 60000 && (got_b.size() < sent_a.size() || got_a.size() < sent_b.size()); ++step) {
    now += 5;
    ++steps;
    if (!by_timer) {
      a.update(now);
    } else if (a_timed && static_cast<int32_t>(now - a_at) >= 0) {
      flush_a();
    }
    b.update(now);
    ab.deliver(now, [&](const std::string& d) { ASSERT_TRUE(b.input(d, now).ok()); });
    bool a_input = false;
    ba.deliver(now, [&](const std::string& d) {
      ASSERT_TRUE(a.input(d, now).ok());
      a_input = true;
    });
    if (by_timer && a_input) flush_a();
    std::string m;
    while (b.receive(&m)) got_b.push_back(m);
    while (a.receive(&m)) got_a.push_back(m);
  }
  EXPECT_EQ(got_b, sent_a) << "seed " << seed << " fast " << fast;
  EXPECT_EQ(got_a, sent_b) << "seed " << seed << " fast " << fast;
  EXPECT_FALSE(a.dead());
  if (by_timer) {
    // Once everything is acknowledged nothing is timed; the flushes were far fewer than
    // the steps an update() every interval would have taken.
    for (int i = 0; i < 400; ++i) {
      now += 5;
      if (a_timed && static_cast<int32_t>(now - a_at) >= 0) flush_a();
      b.update(now);
      ab.deliver(now, [&](const std::string& d) { ASSERT_TRUE(b.input(d, now).ok()); });
      ba.deliver(now, [&](const std::string& d) {
        ASSERT_TRUE(a.input(d, now).ok());
        flush_a();
      });
    }
    EXPECT_FALSE(a_timed) << "an idle, fully acknowledged session still asks for a visit";
    EXPECT_LT(a_flushes * 2, steps) << "seed " << seed << " fast " << fast;
  }
}

TEST(Kcp, TwentyPercentLossReorderingAndDuplicatesStillDeliverEverythingInOrder) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    run_lossy(false, seed);
    run_lossy(true, seed);
  }
}

TEST(Kcp, ASessionFlushedOnlyOnInputAndWhenItsNextTimerComesStillDeliversEverything) {
  for (uint32_t seed : {4u, 5u, 6u}) {
    run_lossy(false, seed, true);
    run_lossy(true, seed, true);
  }
}

// ---------------------------------------------------------------------------------------
// An independent peer: segments packed and parsed here by hand.

struct Seg {
  uint32_t conv, ts, sn, una;
  uint8_t cmd, frg;
  uint16_t wnd;
  std::string data;
};

uint32_t le32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) | uint32_t(uint8_t(s[at + 1])) << 8 | uint32_t(uint8_t(s[at + 2])) << 16 |
         uint32_t(uint8_t(s[at + 3])) << 24;
}

std::vector<Seg> parse_all(const std::string& d) {
  std::vector<Seg> out;
  size_t at = 0;
  while (at + 24 <= d.size()) {
    Seg s;
    s.conv = le32(d, at);
    s.cmd = uint8_t(d[at + 4]);
    s.frg = uint8_t(d[at + 5]);
    s.wnd = uint16_t(uint8_t(d[at + 6]) | uint8_t(d[at + 7]) << 8);
    s.ts = le32(d, at + 8);
    s.sn = le32(d, at + 12);
    s.una = le32(d, at + 16);
    uint32_t len = le32(d, at + 20);
    s.data = d.substr(at + 24, len);
    at += 24 + len;
    out.push_back(s);
  }
  EXPECT_EQ(at, d.size());
  return out;
}

std::string pack(uint32_t conv, uint8_t cmd, uint8_t frg, uint16_t wnd, uint32_t ts, uint32_t sn, uint32_t una,
                 const std::string& data) {
  std::string s;
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(char(v >> (8 * i)));
  };
  u32(conv);
  s.push_back(char(cmd));
  s.push_back(char(frg));
  s.push_back(char(wnd & 0xFF));
  s.push_back(char(wnd >> 8));
  u32(ts);
  u32(sn);
  u32(una);
  u32(static_cast<uint32_t>(data.size()));
  return s + data;
}

TEST(Kcp, AnIndependentPeerReadsAndAcknowledgesOurSegments) {
  std::vector<std::string> wire;
  Kcp k(7, [&](std::string_view d) { wire.emplace_back(d); });
  ASSERT_TRUE(k.set_mtu(24 + 26).ok());  // 26 data bytes per segment
  k.set_nodelay(true, 10, 0, true);
  const std::string message = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";  // 62 bytes
  ASSERT_TRUE(k.send(message).ok());  // 3 fragments: 26 + 26 + 10
  k.update(1000);
  std::vector<Seg> segs;
  for (auto& d : wire) {
    for (auto& s : parse_all(d)) segs.push_back(s);
  }
  ASSERT_EQ(segs.size(), 3u);
  std::string joined;
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(segs[i].conv, 7u);
    EXPECT_EQ(segs[i].cmd, 81);  // PUSH
    EXPECT_EQ(segs[i].frg, 2 - i);
    EXPECT_EQ(segs[i].sn, i);
    EXPECT_EQ(segs[i].una, 0u);
    EXPECT_EQ(segs[i].ts, 1000u);
    EXPECT_EQ(segs[i].wnd, 128);
    joined += segs[i].data;
  }
  EXPECT_EQ(joined, message);
  EXPECT_EQ(segs[2].data.size(), 10u);
  EXPECT_EQ(k.waiting_to_send(), 3u);
  // Acknowledge sn 2 and 0 individually, then 1 through una.
  ASSERT_TRUE(k.input(pack(7, 82, 0, 128, 1000, 2, 0, "") + pack(7, 82, 0, 128, 1000, 0, 0, ""), 1020).ok());
  EXPECT_EQ(k.waiting_to_send(), 1u);
  ASSERT_TRUE(k.input(pack(7, 82, 0, 128, 1000, 1, 3, ""), 1030).ok());
  EXPECT_EQ(k.waiting_to_send(), 0u);
  EXPECT_LE(k.rto(), 60u);  // learned from the 20-30 ms round trips
}

TEST(Kcp, WeReadAndAcknowledgeAnIndependentPeersSegments) {
  std::vector<std::string> wire;
  Kcp k(9, [&](std::string_view d) { wire.emplace_back(d); });
  // Out of order: the last fragment first, then a duplicate, then the first.
  ASSERT_TRUE(k.input(pack(9, 81, 0, 64, 500, 1, 0, " world"), 600).ok());
  std::string m;
  EXPECT_FALSE(k.receive(&m));
  ASSERT_TRUE(k.input(pack(9, 81, 0, 64, 500, 1, 0, " world") + pack(9, 81, 1, 64, 500, 0, 0, "hello"), 610).ok());
  ASSERT_TRUE(k.receive(&m));
  EXPECT_EQ(m, "hello world");
  EXPECT_FALSE(k.receive(&m));
  k.flush(620);
  std::vector<Seg> acks;
  for (auto& d : wire) {
    for (auto& s : parse_all(d)) acks.push_back(s);
  }
  ASSERT_EQ(acks.size(), 3u);  // one per PUSH received, the duplicate included
  for (auto& a : acks) {
    EXPECT_EQ(a.cmd, 82);  // ACK
    EXPECT_EQ(a.conv, 9u);
    EXPECT_EQ(a.ts, 500u);  // echoes the segment's timestamp
    EXPECT_EQ(a.una, 2u);   // everything below 2 is in
  }
  EXPECT_EQ(acks[0].sn, 1u);
  EXPECT_EQ(acks[2].sn, 0u);
  // A window probe is answered with our window.
  wire.clear();
  ASSERT_TRUE(k.input(pack(9, 83, 0, 64, 700, 0, 0, ""), 700).ok());
  k.flush(700);
  ASSERT_EQ(wire.size(), 1u);
  auto tell = parse_all(wire[0]);
  ASSERT_EQ(tell.size(), 1u);
  EXPECT_EQ(tell[0].cmd, 84);  // WINS
  EXPECT_EQ(tell[0].wnd, 128);
}

TEST(Kcp, MalformedDatagramsAreRefusedAndTheSessionGoesOn) {
  Kcp k(5, [](std::string_view) {});
  EXPECT_FALSE(k.input("short", 0).ok());
  EXPECT_FALSE(k.input(pack(6, 81, 0, 32, 0, 0, 0, "other conv"), 0).ok());
  EXPECT_FALSE(k.input(pack(5, 99, 0, 32, 0, 0, 0, "bad cmd"), 0).ok());
  std::string too_long = pack(5, 81, 0, 32, 0, 0, 0, "abc");
  too_long.resize(too_long.size() - 1);  // len says 3, only 2 follow
  EXPECT_FALSE(k.input(too_long, 0).ok());
  ASSERT_TRUE(k.input(pack(5, 81, 0, 32, 0, 0, 0, "fine"), 0).ok());
  std::string m;
  ASSERT_TRUE(k.receive(&m));
  EXPECT_EQ(m, "fine");
  EXPECT_FALSE(k.send(std::string(300 * 1376, 'x')).ok());  // more than 255 fragments
}

}  // namespace
}  // namespace behavior
