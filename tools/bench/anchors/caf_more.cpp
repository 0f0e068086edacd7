// caf_more.cpp — the m2m and broadcast cases of bench_runtime (tools/bench/bench_runtime.cpp)
// on CAF 0.17 (Debian libcaf-dev), with the same message counts and semantics, so that the
// two cases have an anchor beside CAF's pingpong/counting/ring/spawn (../shared/anchors).
// Where the actors run is left to CAF's default scheduler (no pinning in CAF).
//   m2m N [P]:       P actors (default 1000), each sends N/(2P) requests, one at a time, to
//                    pseudo-random other actors (the same xorshift32 sequence as ours) and
//                    answers every request it gets, also after it is done.
//   broadcast N [S]: one publisher, S subscribers (default 10000), N/(2S) rounds of one
//                    message to each subscriber and one answer back from each.
// The clock runs from the first go to the last done (spawns before it); a count check after
// it exits 1 on a mismatch. Prints: caf <case> n=<N> time=<s>s rate=<R> msg/s
// Usage: caf_more m2m|broadcast N [P|S]
#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using namespace caf;

using go_atom = atom_constant<atom("go")>;
using req_atom = atom_constant<atom("req")>;
using rep_atom = atom_constant<atom("rep")>;
using pub_atom = atom_constant<atom("pub")>;
using ack_atom = atom_constant<atom("ack")>;
using done_atom = atom_constant<atom("done")>;
using report_atom = atom_constant<atom("report")>;
using tally_atom = atom_constant<atom("tally")>;

namespace {

uint32_t xorshift32(uint32_t& x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

uint32_t m2m_seed(uint32_t index) {
  uint32_t x = index * 2654435761u + 1u;
  return x == 0 ? 1u : x;
}

using actor_list = std::shared_ptr<std::vector<actor>>;

struct peer_state {
  uint32_t x = 0;
  long got = 0;
  long handled = 0;
};

// Asks the next pseudo-random peer other than itself (itself only when alone).
void next_request(stateful_actor<peer_state>* self, uint32_t index, const actor_list& peers) {
  const auto p = static_cast<uint32_t>(peers->size());
  uint32_t to = index;
  if (p > 1) {
    to = xorshift32(self->state.x) % (p - 1);
    if (to >= index) ++to;
  }
  self->send((*peers)[to], req_atom::value);
}

behavior peer_fn(stateful_actor<peer_state>* self, uint32_t index, long m, actor_list peers,
                 actor main) {
  self->state.x = m2m_seed(index);
  return {
      [=](go_atom) { next_request(self, index, peers); },
      [=](req_atom) {
        ++self->state.handled;
        self->send(actor_cast<actor>(self->current_sender()), rep_atom::value);
      },
      [=](rep_atom) {
        if (++self->state.got == m)
          self->send(main, done_atom::value);
        else
          next_request(self, index, peers);
      },
      [=](report_atom) {
        self->send(actor_cast<actor>(self->current_sender()), tally_atom::value,
                   self->state.handled, self->state.got);
      },
  };
}

struct sub_state {
  long handled = 0;
};

behavior sub_fn(stateful_actor<sub_state>* self) {
  return {
      [=](pub_atom) {
        ++self->state.handled;
        self->send(actor_cast<actor>(self->current_sender()), ack_atom::value);
      },
      [=](report_atom) {
        self->send(actor_cast<actor>(self->current_sender()), tally_atom::value,
                   self->state.handled, 0L);
      },
  };
}

struct pub_state {
  size_t answers = 0;
  long round = 0;
  long got = 0;
};

void publish(stateful_actor<pub_state>* self, const actor_list& subs) {
  for (auto& s : *subs) self->send(s, pub_atom::value);
}

behavior pub_fn(stateful_actor<pub_state>* self, actor_list subs, long rounds, actor main) {
  return {
      [=](go_atom) { publish(self, subs); },
      [=](ack_atom) {
        ++self->state.got;
        if (++self->state.answers < subs->size()) return;
        self->state.answers = 0;
        if (++self->state.round == rounds)
          self->send(main, done_atom::value, self->state.got);
        else
          publish(self, subs);
      },
  };
}

// The sums of every actor's (handled, got), asked for after the clock has stopped.
void collect_tallies(scoped_actor& self, const std::vector<actor>& actors, long& handled,
                     long& got) {
  handled = got = 0;
  for (auto& a : actors) self->send(a, report_atom::value);
  size_t i = 0;
  self->receive_for(i, actors.size())([&](tally_atom, long h, long g) {
    handled += h;
    got += g;
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s m2m|broadcast N [procs|subs]\n", argv[0]);
    return 2;
  }
  const std::string what = argv[1];
  const long n = std::atol(argv[2]);
  actor_system_config cfg;
  actor_system sys{cfg};
  scoped_actor self{sys};
  auto t0 = std::chrono::steady_clock::now();
  auto t1 = t0;
  long msgs = 0;
  bool ok = true;
  if (what == "m2m") {
    const long p = argc > 3 ? std::atol(argv[3]) : 1000;
    const long m = p > 0 ? n / (2 * p) : 0;
    if (m < 1) {
      std::fprintf(stderr, "m2m: n must be at least 2*procs\n");
      return 2;
    }
    auto peers = std::make_shared<std::vector<actor>>();
    peers->reserve(static_cast<size_t>(p));
    for (long i = 0; i < p; ++i)
      peers->push_back(sys.spawn(peer_fn, static_cast<uint32_t>(i), m, peers, actor{self}));
    t0 = std::chrono::steady_clock::now();
    for (auto& a : *peers) self->send(a, go_atom::value);
    long dones = 0;
    self->receive_for(dones, p)([](done_atom) {});
    t1 = std::chrono::steady_clock::now();
    msgs = 2 * p * m;
    long handled = 0, got = 0;
    collect_tallies(self, *peers, handled, got);
    if (handled != p * m || got != p * m) {
      std::fprintf(stderr, "m2m: count mismatch: %ld answered, %ld replies, want %ld\n", handled,
                   got, p * m);
      ok = false;
    }
    for (auto& a : *peers) anon_send_exit(a, exit_reason::user_shutdown);
  } else if (what == "broadcast") {
    const long s = argc > 3 ? std::atol(argv[3]) : 10000;
    const long rounds = s > 0 ? n / (2 * s) : 0;
    if (rounds < 1) {
      std::fprintf(stderr, "broadcast: n must be at least 2*subs\n");
      return 2;
    }
    auto subs = std::make_shared<std::vector<actor>>();
    subs->reserve(static_cast<size_t>(s));
    for (long i = 0; i < s; ++i) subs->push_back(sys.spawn(sub_fn));
    auto pub = sys.spawn(pub_fn, subs, rounds, actor{self});
    t0 = std::chrono::steady_clock::now();
    self->send(pub, go_atom::value);
    long got = 0;
    self->receive([&](done_atom, long g) { got = g; });
    t1 = std::chrono::steady_clock::now();
    msgs = 2 * s * rounds;
    long handled = 0, ignored = 0;
    collect_tallies(self, *subs, handled, ignored);
    if (handled != s * rounds || got != s * rounds) {
      std::fprintf(stderr, "broadcast: count mismatch: %ld answered, %ld answers, want %ld\n",
                   handled, got, s * rounds);
      ok = false;
    }
    anon_send_exit(pub, exit_reason::user_shutdown);
    for (auto& a : *subs) anon_send_exit(a, exit_reason::user_shutdown);
  } else {
    std::fprintf(stderr, "unknown %s\n", what.c_str());
    return 2;
  }
  if (!ok) return 1;
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  std::printf("caf %s n=%ld time=%.3fs rate=%.0f msg/s\n", what.c_str(), n, secs, msgs / secs);
  return 0;
}
