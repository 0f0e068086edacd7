// s2s.h — node-to-node transport on the network loop. Each node listens on one port; to
// send, it uses a small pool of connections per peer, the slot chosen by the pair of
// pids (so messages between two processes stay in order, both ways on one connection,
// and a reply's TCP segment carries the ACK of the request). A slot uses the connection
// the peer dialed for it if there is one, else dials its own, proving the cluster secret
// in a handshake, and writes length-prefixed envelopes, coalescing everything queued into
// one write. Lost
// connections are redialed with backoff; bytes not yet handed to the kernel are carried to
// the next connection. Bad input closes that connection only.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <string>

#include "behavior/message.h"
#include "envelope.h"
#include "behavior/tcp_listener.h"

namespace behavior::detail {

struct S2sOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: pick a free port
  std::string secret;
  size_t max_frame = 8u << 20;
  int pool = 2;                    // connections per peer
  size_t max_backlog = 64u << 20;  // bytes queued per peer before sends are refused
  // A ready link that receives nothing for this long is closed (the peer sends a tick, an
  // empty frame, after timeout_ms / 4 without other traffic); a dial or handshake not done
  // by then is abandoned. 0 = no ticks, no deadline.
  int timeout_ms = 6000;
  // Accepted links that have not proved the secret yet: at most this many at once (then the
  // oldest gives way) and from one address (more are closed at accept), each for at most
  // handshake_timeout_ms.
  int max_handshakes = 128;
  int max_handshakes_per_address = 64;
  int handshake_timeout_ms = 3000;
};

struct S2sStats {
  uint64_t bytes_in = 0, bytes_out = 0, frames_in = 0, frames_out = 0;
  uint64_t refused_handshakes = 0, bad_frames = 0;
  uint64_t timeouts = 0;  // links closed for silence, dials and handshakes that took too long
  uint64_t refused_busy = 0;  // handshakes cut: too many in progress (in all, or from one address)
  int connections = 0;
};

class S2s {
 public:
  using Deliver = std::function<void(MessagePtr m, uint16_t from_node)>;
  using Bounce = std::function<void(Message* m, const Status& why)>;

  S2s(uv_loop_t* loop, uint16_t node_id, S2sOptions options, Deliver deliver, Bounce bounce);
  ~S2s();

  Status listen();
  int port() const { return port_; }
  // Queues m for `node` at `address` ("host:port"); takes ownership. Loop thread only.
  void send(uint16_t node, const std::string& address, Message* m);
  // Writes everything queued (call after a batch of send()).
  void flush();
  // The node is gone: close its connections, bounce what waits for it.
  void drop_peer(uint16_t node, const Status& why);
  void stop();
  const S2sStats& stats() const { return stats_; }

 private:
  struct Link;
  struct Slot {
    Link* link = nullptr;         // dialed connection, once ready
    bool dialing = false;
    std::deque<Message*> queue;  // waiting for a ready link
    std::string carry;            // encoded frames a dropped link never wrote
    int backoff_ms = 0;
    uv_timer_t* timer = nullptr;
  };
  struct Peer {
    uint16_t node = 0;
    std::string address;
    std::vector<Slot> slots;
    std::vector<Link*> inbound;  // ready connections the peer dialed, by its slot
    size_t queued_bytes = 0;
  };

  void accept_link(uv_stream_t* server);
  void dial(Peer& peer, size_t slot);
  void on_link_ready(Link* link);
  void handshake_over(Link* link);
  void attach_slot(Link* link);
  void on_link_closed(Link* link);
  void close_link(Link* link, const char* why);
  void start_read(Link* link);
  void on_read(Link* link, const char* data, size_t n);
  Status on_frame(Link* link, std::string_view payload);
  void write_frames(Link* link, std::string_view frames);
  void write_pending(Link* link);
  void enqueue(Link* link, Message* m);
  void on_tick();  // every tick_ms(): ticks on quiet links, deadlines
  // A quiet link ticks this often: four ticks fit in the timeout, as with Erlang's.
  uint64_t tick_ms() const { return static_cast<uint64_t>(std::max(1, options_.timeout_ms / 4)); }
  Peer& peer(uint16_t node);
  static size_t slot_of(const Message& m, size_t pool);

  uv_loop_t* loop_;
  uint16_t node_id_;
  S2sOptions options_;
  Deliver deliver_;
  Bounce bounce_;
  std::unique_ptr<TcpListener> listener_;
  int port_ = 0;
  std::map<uint16_t, Peer> peers_;
  std::set<Link*> links_;
  std::set<Link*> dirty_;
  S2sStats stats_;
  int handshakes_ = 0;  // accepted links in their handshake
  std::unordered_map<uint64_t, int> handshakes_by_peer_;
  std::unique_ptr<char[]> read_buf_;  // every link's reads (Link::read_buffer)
  uv_timer_t* tick_timer_ = nullptr;
  bool stopped_ = false;
};

}  // namespace behavior::detail
