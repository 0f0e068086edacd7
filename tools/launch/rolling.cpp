// rolling.cpp — see rolling.h. The roll joins the cluster once as a ctl node (the evacuation
// steps are calls to the old node's cluster service) and reads registrations from Redis.
#include "rolling.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "cluster_reader.h"
#include "ctl_node.h"

namespace behavior::tools {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Result<ctl::RedisTarget> redis_target(const LocalCluster& cluster) {
  const std::string& a = cluster.redis_address();
  const auto colon = a.rfind(':');
  if (colon == std::string::npos) return Status::invalid_argument("bad Redis address " + a);
  ctl::RedisTarget t;
  t.host = a.substr(0, colon);
  t.port = std::atoi(a.c_str() + colon + 1);
  t.password = cluster.redis_password();
  t.prefix = cluster.redis_prefix();
  return t;
}

}  // namespace

Result<RollReport> roll_local_servers(LocalCluster& cluster, const RollOptions& o, RollReport* partial) {
  const auto started = Clock::now();
  auto say = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  const std::vector<std::string> olds = cluster.running_local_servers();
  if (olds.empty()) return Status::invalid_argument("no local server is running");
  uint16_t next_id = o.first_new_id;
  if (next_id == 0) {
    for (const auto& s : cluster.services()) {
      if (s.name.starts_with("local_server-")) next_id = std::max<uint16_t>(next_id, cluster.node_id(s.name));
    }
    ++next_id;
  }

  auto target = redis_target(cluster);
  if (!target.ok()) return target.status();
  auto reader = ctl::ClusterReader::connect(*target, Millis(5000));
  if (!reader.ok()) return reader.status();
  ClusterOptions co;
  co.redis_host = target->host;
  co.redis_port = target->port;
  co.redis_password = target->password;
  co.prefix = target->prefix;
  co.secret = cluster.secret();
  co.s2s_host = "127.0.0.1";
  co.heartbeat = Millis(cluster.heartbeat_ms());  // judge the others' heartbeats as they do
  co.ttl = Millis(cluster.ttl_ms());
  auto ctl = ctl::CtlNode::join(**reader, co, Millis(5000));
  if (!ctl.ok()) return Status(ctl.status().code(), "joining the cluster to drive the roll: " + ctl.status().message());
  ctl::NameServerAdmin ns;
  ns.url = cluster.name_server_url();
  ns.token = cluster.admin_token();
  ns.tls_ca = cluster.tls_cert();

  RollReport report;
  size_t index = 0;  // of the old node being rolled
  auto fail = [&](const std::string& what) -> Status {
    report.seconds = since(started);
    if (partial) *partial = report;
    // The old nodes not rolled yet take players again (best effort; the failing one was
    // resumed by drain_and_evacuate already, which is harmless to repeat).
    for (size_t i = index; i < olds.size(); ++i) (void)ns.drain(cluster.node_id(olds[i]), false);
    return Status::unavailable(what);
  };
  for (; index < olds.size(); ++index) {
    const std::string& old = olds[index];
    RolledNode r;
    r.old_service = old;
    r.old_id = cluster.node_id(old);
    r.new_id = next_id++;
    r.new_service = "local_server-" + std::to_string(r.new_id);
    const auto t0 = Clock::now();
    say("roll: node " + std::to_string(r.old_id) + ": starting its replacement, node " + std::to_string(r.new_id));
    if (Status s = cluster.add_local_server(r.new_id, o.binary, o.ready_timeout_ms); !s.ok()) {
      return fail("the replacement of node " + std::to_string(r.old_id) + " (node " + std::to_string(r.new_id) +
                  ") did not start: " + s.to_string() + "; node " + std::to_string(r.old_id) + " keeps serving");
    }
    Status ready = ctl::wait_for_local_nodes(**reader, {r.new_id}, Millis(o.ready_timeout_ms));
    if (ready.ok()) ready = ns.wait_until_placing({r.new_id}, Millis(o.ready_timeout_ms));
    if (!ready.ok()) {
      (void)cluster.signal(r.new_service, SIGKILL);
      cluster.wait_exit(r.new_service, 5000);
      return fail("the replacement of node " + std::to_string(r.old_id) + " never became ready: " + ready.message() +
                  "; it was stopped and node " + std::to_string(r.old_id) + " keeps serving");
    }
    r.start_s = since(t0);
    if (index == 0) {
      // Once a new node takes players, no old one should: each process then moves once,
      // to a new node, instead of hopping from old node to old node.
      for (const std::string& o2 : olds) {
        if (Status s = ns.drain(cluster.node_id(o2), true); !s.ok()) {
          return fail("draining node " + std::to_string(cluster.node_id(o2)) + ": " + s.message());
        }
      }
    }
    const auto t1 = Clock::now();
    say("roll: node " + std::to_string(r.old_id) + ": draining and evacuating");
    Result<ctl::Evacuated> e =
        ctl::drain_and_evacuate(ns, **ctl, r.old_id, o.limits, [&](int64_t left, int64_t moving) {
          say("roll: node " + std::to_string(r.old_id) + ": " + std::to_string(left) + " named processes left (" +
              std::to_string(moving) + " moving)");
        });
    if (!e.ok()) return fail("rolling node " + std::to_string(r.old_id) + ": " + e.status().message());
    r.moved = e->names;
    say("roll: node " + std::to_string(r.old_id) + " is empty; it relays for " + std::to_string(o.settle_ms) +
        " ms more, then stops");
    std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms));
    r.evacuate_s = since(t1);
    const auto t2 = Clock::now();
    if (Status s = cluster.signal(old, SIGTERM); !s.ok()) return fail("stopping node " + std::to_string(r.old_id) + ": " + s.to_string());
    const int status = cluster.wait_exit(old, o.exit_timeout_ms);
    if (status == -1) {
      return fail("node " + std::to_string(r.old_id) + " did not exit within " + std::to_string(o.exit_timeout_ms) +
                  " ms of SIGTERM (it is empty; see " + cluster.log_dir() + "/" + old + ".log)");
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      return fail("node " + std::to_string(r.old_id) + " ended with " + LocalCluster::describe_exit(status) +
                  " after SIGTERM, not exit 0 (see " + cluster.log_dir() + "/" + old + ".log)");
    }
    r.stop_s = since(t2);
    r.total_s = since(t0);
    char line[200];
    std::snprintf(line, sizeof line, "roll: node %u -> %u done in %.2f s (%lld processes moved)", r.old_id, r.new_id,
                  r.total_s, static_cast<long long>(r.moved));
    say(line);
    report.nodes.push_back(r);
  }
  (*ctl)->leave();
  report.seconds = since(started);
  if (partial) *partial = report;
  return report;
}

std::string describe(const RollReport& report) {
  std::string out;
  char line[256];
  for (const RolledNode& r : report.nodes) {
    std::snprintf(line, sizeof line,
                  "node %-5u -> %-5u ready %6.2f s  evacuated %5lld in %6.2f s  exited 0 in %5.2f s  total %6.2f s\n",
                  r.old_id, r.new_id, r.start_s, static_cast<long long>(r.moved), r.evacuate_s, r.stop_s, r.total_s);
    out += line;
  }
  std::snprintf(line, sizeof line, "rolled %zu local server(s) in %.2f s\n", report.nodes.size(), report.seconds);
  return out + line;
}

}  // namespace behavior::tools
