// testing.h — test your process kinds in-process, without Redis or sockets: a started
// standalone node, and a FakeClient that plays the gateway's part for one player.
//
//   behavior::testing::TestNode node;
//   behavior::KindsContext ctx{node.node(), settings, nullptr};
//   mygame::register_kinds(ctx);                    // what the kinds library registers
//   node.start();
//   behavior::testing::FakeClient alice(node.node());
//   ASSERT_TRUE(alice.attach("user/alice", "user").ok());
//   alice.send(JOIN_ROOM, join);                    // a client frame, as the gateway relays it
//   auto joined = alice.expect<Joined>(JOINED);     // what the process sent its client
//
// For the whole path (gateway, name server, several local servers, bots) run the real
// binaries: `launch --kinds-lib libmygame.so --bots 20`.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "behavior/inbox.h"
#include "behavior/node.h"

namespace behavior::testing {

// A started standalone node; shut down (every process gets on_stop) when destroyed.
class TestNode {
 public:
  explicit TestNode(int workers = 1, uint16_t node_id = 1) : node_(options(workers, node_id)) {}
  ~TestNode() { node_.shutdown(); }
  TestNode(const TestNode&) = delete;
  TestNode& operator=(const TestNode&) = delete;

  Node& node() { return node_; }
  // Starts the node once its kinds are registered.
  Status start() { return node_.start(); }

 private:
  static NodeOptions options(int workers, uint16_t node_id) {
    NodeOptions o;
    o.workers = workers;
    o.node_id = node_id;
    return o;
  }
  Node node_;
};

// One player's connection as the gateway keeps it: its Inbox is the process's writer.
class FakeClient {
 public:
  explicit FakeClient(Node& node) : node_(node), inbox_(node) {}

  // What the gateway does after AUTH: ensure the player's process (`name`, of `kind`) with
  // this client as its writer, then attach.
  Result<Pid> attach(std::string_view name, std::string_view kind) {
    Result<Pid> pid = node_.ensure(name, kind, inbox_.pid());
    if (!pid.ok()) return pid;
    process_ = *pid;
    if (Status s = inbox_.send(process_, proto::kAttach); !s.ok()) return s;
    return pid;
  }
  // A client frame, as the gateway relays it to the process.
  Status send(uint32_t proto_id, std::string bytes) { return inbox_.send(process_, proto_id, Body::bytes(std::move(bytes))); }
  template <class T>
  Status send(uint32_t proto_id, const T& message) {
    return send(proto_id, message.SerializeAsString());
  }
  // The next thing the process sent its client (send_to_client..., a kick), or nullptr.
  MessagePtr receive(Millis timeout = Millis(2000)) { return inbox_.receive(timeout); }
  // The next client frame with `proto_id`, parsed as T (frames before it are skipped); none
  // after `timeout`, or when it does not parse.
  template <class T>
  std::optional<T> expect(uint32_t proto_id, Millis timeout = Millis(2000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      MessagePtr m = inbox_.receive(left);
      if (!m) return std::nullopt;
      if (m->proto_id() != proto_id) continue;
      T out;
      std::string_view raw = m->body().raw();
      if (!out.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) return std::nullopt;
      return out;
    }
  }
  Pid pid() const { return inbox_.pid(); }
  Pid process() const { return process_; }

 private:
  Node& node_;
  Inbox inbox_;
  Pid process_;
};

}  // namespace behavior::testing
