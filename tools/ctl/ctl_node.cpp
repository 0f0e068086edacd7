// ctl_node.cpp — see ctl_node.h. ctl uses one s2s connection per peer (pool 1), so all it
// sends to a node travels one link in order: a call to that node's cluster service after an
// info proves the info reached the node (the barrier in send()).
#include "ctl_node.h"

#include <behavior/ids.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <sstream>
#include <thread>

#include "admin_http.h"
#include <behavior/system.pb.h>

namespace behavior::ctl {
namespace {

constexpr uint32_t kWatching = 1;  // watcher → inbox: the monitor is in place
constexpr uint32_t kGone = 2;      // watcher → inbox: the DOWN's reason
constexpr int kIdAttempts = 64;

// Monitors one process and forwards its DOWN reason to ctl's inbox.
class Watcher : public Router {
 public:
  Watcher(Pid target, Pid inbox) : target_(target), inbox_(inbox) {}
  void on_start() override {
    actor().monitor(target_);
    actor().send(inbox_, kWatching);
  }
  Task<> route(Message& m) override {
    if (m.proto_id() == proto::kDown) {
      actor().send(inbox_, kGone, Body::bytes(m.as<pb::DownSignal>().reason()));
      actor().stop();
    }
    co_return;
  }

 private:
  Pid target_, inbox_;
};

// The value of the Prometheus sample `name{labels} value` (or `name value`), or -1.
double metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    return std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return -1;
}

bool link_failure(Code c) { return c == Code::kTimeout || c == Code::kUnavailable || c == Code::kShutdown; }

}  // namespace

Result<std::unique_ptr<CtlNode>> CtlNode::join(ClusterReader& reader, ClusterOptions co, Millis timeout) {
  if (co.secret.empty()) {
    return Status::invalid_argument("joining the cluster needs its secret: set BEHAVIOR_CLUSTER_SECRET or --cluster-secret");
  }
  // A random id in the reserved range, taken atomically in Redis so two ctl runs at once
  // cannot share it (and never one of a live node).
  std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> pick(kFirstCtlNodeId, kLastCtlNodeId);
  const Millis reserve_ttl = std::max(Millis(10000), timeout * 2);
  uint16_t id = 0;
  for (int i = 0; i < kIdAttempts && id == 0; ++i) {
    const auto candidate = static_cast<uint16_t>(pick(rng));
    Result<bool> got = reader.reserve_node_id(candidate, reserve_ttl);
    if (!got.ok()) return got.status();
    if (*got) id = candidate;
  }
  if (id == 0) return Status::unavailable("no free node id for ctl in " + std::to_string(kFirstCtlNodeId) + "-65535");

  std::unique_ptr<CtlNode> self(new CtlNode(reader, timeout));
  NodeOptions no;
  no.node_id = id;
  no.workers = 1;
  no.capacity = 1;
  self->node_ = std::make_unique<Node>(no);
  if (Status s = self->node_->start(); !s.ok()) return Status::internal("cannot start the ctl node: " + s.to_string());
  co.kind = "ctl";
  co.s2s_pool = 1;
  co.metrics_port = -1;
  co.attributes.clear();
  self->cluster_ = std::make_unique<Cluster>(*self->node_, co);
  if (Status s = self->cluster_->start(); !s.ok()) {
    return Status::unavailable("cannot join the cluster as node " + std::to_string(id) + ": " + s.to_string());
  }
  // Joined once our first heartbeat is in and the view (with us in it) has been read.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool in_view = false;
    for (const auto& n : self->cluster_->nodes()) in_view |= n.id == id;
    if (in_view) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::unavailable("could not join the cluster through Redis at " + co.redis_host + ":" +
                                 std::to_string(co.redis_port) + " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  self->inbox_ = std::make_unique<Inbox>(*self->node_);
  return self;
}

CtlNode::~CtlNode() { leave(); }

void CtlNode::leave() {
  inbox_.reset();
  if (cluster_) cluster_->stop();
  if (node_) node_->shutdown();
  cluster_.reset();
  node_.reset();
}

Result<Pid> CtlNode::resolve(const std::string& name) {
  Result<Pid> pid = cluster_->lookup(name, timeout_);
  if (!pid.ok() && pid.status().code() == Code::kNotFound) {
    return Status::not_found("no process named " + name + " in the directory");
  }
  if (!pid.ok()) return Status(pid.status().code(), "looking up " + name + ": " + pid.status().message());
  return pid;
}

Status CtlNode::reach(uint16_t node) {
  // Any answer of that node's service will do (this name is never registered).
  Reply r = inbox_->call(Cluster::service_pid(node), proto::kLookup, Body::bytes(std::string("ctl/reach")),
                         timeout_);
  if (r.ok() || !link_failure(r.status().code())) return {};
  return Status::unavailable(diagnose(node, r.status()));
}

std::string CtlNode::diagnose(uint16_t node, const Status& failure) {
  const std::string who = "node " + std::to_string(node);
  std::string s2s;
  for (const auto& n : cluster_->nodes()) {
    if (n.id == node) s2s = n.s2s;
  }
  if (s2s.empty()) return who + " is not in the cluster (" + failure.message() + ")";
  const auto colon = s2s.rfind(':');
  Result<int> fd = dial_tcp(s2s.substr(0, colon), std::atoi(s2s.c_str() + colon + 1), Millis(1000));
  if (!fd.ok()) return who + "'s s2s address " + s2s + " is unreachable from here: " + fd.status().message();
  ::close(*fd);
  const std::string metrics = cluster_->metrics_text();
  const double links = metric(metrics, "behavior_s2s_connections");
  const double refused = metric(metrics, "behavior_s2s_refused_handshakes_total");
  if (links == 0 || refused > 0) {
    return who + " at " + s2s + " accepts connections but no s2s link came up within " +
           std::to_string(timeout_.count()) +
           " ms: the handshake failed, so the cluster secret is wrong (set BEHAVIOR_CLUSTER_SECRET or "
           "--cluster-secret to the cluster's)";
  }
  return who + " did not answer: " + failure.message();
}

Status CtlNode::send(Pid to, uint32_t proto_id, std::string body) {
  if (Status s = reach(to.node()); !s.ok()) return s;
  if (Status s = inbox_->send(to, proto_id, Body::bytes(std::move(body))); !s.ok()) return s;
  return reach(to.node());  // same link, after the info: once answered, the info is there
}

Result<CallResult> CtlNode::call(Pid to, uint32_t proto_id, std::string body, Millis timeout) {
  if (Status s = reach(to.node()); !s.ok()) return s;
  Reply r = inbox_->call(to, proto_id, Body::bytes(std::move(body)), timeout);
  if (!r.ok()) {
    if (r.status().code() == Code::kTimeout) {
      return Status::timeout("no reply from " + to.to_string() + " within " + std::to_string(timeout.count()) + " ms");
    }
    return r.status();
  }
  CallResult out;
  out.proto_id = r.proto_id();
  out.body = std::string(r.message().body().raw());
  return out;
}

Result<Pid> CtlNode::migrate(const std::string& name, uint16_t to, Millis timeout) {
  Result<Pid> pid = resolve(name);
  if (!pid.ok()) return pid.status();
  if (Status s = reach(pid->node()); !s.ok()) return s;
  JsonMap req;
  req.set("name", name).set("to", static_cast<int64_t>(to));
  Reply r = inbox_->call(Cluster::service_pid(pid->node()), proto::kMigrate, std::move(req), timeout);
  if (!r.ok()) return r.status();
  return r.as<Pid>();
}

Result<std::string> CtlNode::reload(uint16_t node, const std::string& path, Millis timeout) {
  if (Status s = reach(node); !s.ok()) return s;
  JsonMap req;
  req.set("path", path);
  Reply r = inbox_->call(Cluster::service_pid(node), proto::kReload, std::move(req), timeout);
  if (!r.ok()) return r.status();
  return std::string(r.message().body().raw());
}

Result<JsonMap> CtlNode::evacuate(uint16_t node) {
  if (Status s = reach(node); !s.ok()) return s;
  Reply r = inbox_->call(Cluster::service_pid(node), proto::kEvacuate, JsonMap(), timeout_);
  if (!r.ok()) return r.status();
  return JsonMap(r.as<JsonMap>());
}

Result<std::string> CtlNode::stop(Pid pid, const std::string& reason) {
  if (Status s = reach(pid.node()); !s.ok()) return s;
  Result<Pid> watcher = node_->spawn(std::make_unique<Watcher>(pid, inbox_->pid()));
  if (!watcher.ok()) return watcher.status();
  const auto deadline = std::chrono::steady_clock::now() + timeout_ + timeout_;
  bool watching = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    MessagePtr m = inbox_->receive(std::max(left, Millis(1)));
    if (!m) break;
    if (m->proto_id() == kWatching && !watching) {
      watching = true;  // the monitor went out first, on the same link: the stop follows it
      if (Status s = node_->stop(pid, reason); !s.ok()) return s;
    } else if (m->proto_id() == kGone) {
      return std::string(m->body().raw());
    }
  }
  return Status::timeout(pid.to_string() + " did not end within " + std::to_string((timeout_ + timeout_).count()) +
                         " ms");
}

Result<KickResult> CtlNode::kick(const std::vector<uint16_t>& gateways, const std::string& user,
                                 const std::string& reason) {
  KickResult out;
  JsonMap req;
  req.set("user", user);
  req.set("reason", reason);
  for (uint16_t gw : gateways) {
    Reply r = inbox_->call(service::gateway_control_pid(gw), proto::kKickUser, Body(JsonMap(req)), timeout_);
    if (!r.ok()) {
      if (link_failure(r.status().code())) return Status::unavailable(diagnose(gw, r.status()));
      if (r.status().code() == Code::kNoProcess) {
        return Status::unavailable("gateway " + std::to_string(gw) + " does not take kicks (an older version?)");
      }
      return Status(r.status().code(), "gateway " + std::to_string(gw) + ": " + r.status().message());
    }
    const auto n = r.as<uint64_t>();
    out.gateways.push_back({gw, n});
    out.total += n;
  }
  return out;
}

}  // namespace behavior::ctl
