// udp_sessions.h — the client side of `bench_gateway udp-sessions`: UDP sessions held by one
// gateway (AUTH handshake, then KCP), spread over worker processes so that no process needs
// more sockets than RLIMIT_NOFILE allows (each session is its own socket, so its own source
// port), each worker on a source address of its own (127.0.0.2, .3, ...). A UDP session costs
// the gateway no file descriptor, so one gateway can hold more of them than the machine lets
// one process hold TCP connections.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace behavior::bench {

// One worker process's share; the parent drives the phases through a pipe.
class UdpSessionWorkers {
 public:
  // `ticket(i)` is the signed ticket of session i (the AUTH datagram's payload); heartbeats
  // go out at `heartbeats_per_second` in all (idle clients spread them over an interval).
  UdpSessionWorkers(long sessions, long per_worker, int gateway_port, std::function<std::string(long)> ticket,
                    double heartbeats_per_second);
  ~UdpSessionWorkers();  // ends and reaps the workers

  // Phase 1: every session authenticates (AUTH resent until answered). The number that did.
  long authenticate();
  // Phase 2: one heartbeat over KCP on every session, paced; how many answers came back.
  long heartbeat();
  int workers() const { return static_cast<int>(workers_.size()); }

 private:
  struct Worker {
    pid_t pid = -1;
    int cmd = -1;     // parent → worker: one byte per phase
    int report = -1;  // worker → parent: one line per phase
  };
  long phase(char cmd);

  std::vector<Worker> workers_;
};

}  // namespace behavior::bench
