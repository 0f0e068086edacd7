// netns_lab.h — a small network of our own for partition tests: a hub namespace holding a
// bridge, and one namespace per host joined to it by a veth pair, each host with one
// address in 10.77.0.0/24 (private to these namespaces; nothing leaves them). Servers run in
// a host with `ip netns exec` (ChildProcess on exec_args()), this test process reaches into
// a host with in() (a thread that joined the namespace creates the sockets or threads), and
// partitions are iptables DROP rules inside a host. Needs root; everything is deleted in the
// destructor. Names carry a random tag so parallel tests never meet.
#pragma once

#include <behavior/status.h>

#include <functional>
#include <string>
#include <vector>

namespace behavior::testing {

class NetnsLab {
 public:
  NetnsLab();
  ~NetnsLab();  // deletes every namespace (and with them the veths and rules)
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // Whether this process may create namespaces (root with iproute2 and iptables).
  static bool available(std::string* why);

  // A host `name` with address `ip` (say "10.77.0.11") on the lab's bridge.
  Status add_host(const std::string& name, const std::string& ip);
  // The argv prefix that runs a program inside the host: {"/usr/sbin/ip", "netns", "exec", ns}.
  std::vector<std::string> exec_args(const std::string& host) const;
  // Runs `fn` on a thread inside the host's network namespace (threads it starts stay
  // there); blocks until it returns.
  Status in(const std::string& host, const std::function<void()>& fn) const;
  // Drops every packet between two hosts (rules in `a`, both directions); heal() removes
  // every rule of `a`.
  Status cut(const std::string& a, const std::string& b_ip);
  Status isolate(const std::string& a);  // drops everything on a's bridge link
  Status heal(const std::string& a);

 private:
  Status run(const std::vector<std::string>& argv) const;
  std::string ns(const std::string& host) const { return tag_ + "-" + host; }

  std::string tag_;
  std::vector<std::string> namespaces_;
  int veths_ = 0;
};

}  // namespace behavior::testing
