// main.cpp — ctl, the admin CLI: flags and subcommands (nodes, count, where, send, call,
// stop, drain [--evacuate], resume, kick, migrate, upgrade, reload), each printing a table or one JSON document.
// Exit 0/1/2.
#include <behavior/cli.h>
#include <behavior/clock.h>
#include <behavior/json_map.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <tuple>
#include <vector>

#include <behavior/ids.h>
#include <behavior/node_flags.h>
#include <behavior/redis_client.h>

#include "admin_http.h"
#include "cluster_reader.h"
#include "ctl_node.h"
#include "output.h"
#include "upgrade.h"

namespace behavior::ctl {
namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 2;


struct Flags {
  std::string redis = "127.0.0.1:6379";
  std::string redis_sentinels;  // Sentinel instead of --redis
  std::vector<std::string> sentinels;
  std::string master_name, sentinel_password;
  RedisTarget target;
  std::string secret;
  std::string s2s_host = "127.0.0.1";
  std::string name_server = "http://127.0.0.1:8080";
  std::string admin_token;
  std::string tls_ca;         // https name server: PEM CA file (empty: the system's store)
  bool tls_insecure = false;  // https name server: no certificate check (self-signed, local)
  bool json = false;
  int64_t timeout_ms = 5000;
  int64_t heartbeat_ms = 1000, ttl_ms = 3000;  // the cluster's: ctl's node judges the others' heartbeats by them
  std::string log_level = "error";
  // Command arguments.
  std::string name;
  std::string proto_text;
  std::string body;
  bool body_hex = false;
  bool body_json = false;
  std::string stop_reason = "normal";
  std::string kick_reason = std::string(proto::kDefaultKickReason);
  int node_id = 0;
  int to_node = 0;                      // migrate --to
  bool evacuate = false;                // drain --evacuate
  int64_t evacuate_timeout_ms = 600000;  // drain --evacuate, upgrade: give up after
  int64_t stall_timeout_ms = 60000;      // drain --evacuate, upgrade: give up when no name moved for this long
  std::string old_nodes, new_nodes;      // upgrade --old, --new
  int64_t ready_timeout_ms = 60000;      // upgrade: the new nodes' readiness
  int64_t settle_ms = kDefaultSettleMs;  // upgrade: an emptied node relays this long before "stop it now"
  Millis timeout() const { return Millis(timeout_ms); }
};

// A failure: the message on stderr, and with --json also {"error"} on stdout.
class Failure {
 public:
  Failure(int code, std::string message) : code_(code), message_(std::move(message)) {}
  int report(const Flags& f) const {
    std::fprintf(stderr, "ctl: %s\n", message_.c_str());
    if (f.json) {
      rapidjson::StringBuffer sb;
      JsonWriter w(sb);
      w.StartObject();
      write_key_string(w, "error", message_);
      w.EndObject();
      std::printf("%s\n", sb.GetString());
    }
    return code_;
  }

 private:
  int code_;
  std::string message_;
};

Failure failed(const Status& s) { return Failure(kFailed, s.message().empty() ? s.to_string() : s.message()); }

void print_json(const std::function<void(JsonWriter&)>& body) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  body(w);
  std::printf("%s\n", sb.GetString());
}

Result<std::unique_ptr<ClusterReader>> open_reader(const Flags& f) {
  return ClusterReader::connect(f.target, f.timeout());
}

Result<uint32_t> parse_proto(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 0);  // decimal or 0x...
  if (text.empty() || *end != '\0' || errno != 0 || v > 0xFFFFFFFFull || text[0] == '-') {
    return Status::invalid_argument("protoID must be a number from 0 to 4294967295 (or 0x...), got '" + text + "'");
  }
  if (proto::is_system(static_cast<uint32_t>(v))) {
    return Status::invalid_argument("protoIDs from 0xFFFF0000 up are reserved for the runtime and the gateway");
  }
  return static_cast<uint32_t>(v);
}

Result<std::string> parse_body(const Flags& f) {
  if (f.body_hex) {
    auto bytes = from_hex(f.body);
    if (!bytes) return Status::invalid_argument("--body-hex: the body is not an even number of hex digits");
    return *bytes;
  }
  if (f.body_json) {
    JsonMap m;  // the runtime's wire form for small maps: one flat JSON object
    if (!m.ParseFromString(f.body)) return Status::invalid_argument("--body-json: the body is not one flat JSON object");
    std::string wire;
    m.SerializeToString(&wire);
    return wire;
  }
  return f.body;
}

ClusterOptions cluster_options(const Flags& f) {
  ClusterOptions co;
  co.redis_host = f.target.host;
  co.redis_port = f.target.port;
  co.redis_password = f.target.password;
  co.redis_sentinels = f.sentinels;
  co.redis_master_name = f.master_name;
  co.redis_sentinel_password = f.sentinel_password;
  co.prefix = f.target.prefix;
  co.secret = f.secret;
  co.s2s_host = f.s2s_host;
  co.heartbeat = Millis(f.heartbeat_ms);
  co.ttl = Millis(f.ttl_ms);
  return co;
}

std::string client_addresses(const ClusterNodeInfo& n) {
  std::string out;
  for (const char* k : {"tcp", "ws", "udp"}) {
    if (auto it = n.attributes.find(k); it != n.attributes.end() && !it->second.empty()) {
      out += (out.empty() ? "" : " ") + std::string(k) + "=" + it->second;
    }
  }
  return out;
}

// "room:1 user:2"; "?" when the registration has no kinds (an older binary), "-" for none.
std::string kinds_column(const ClusterNodeInfo& n) {
  if (!n.kinds) return "?";
  if (n.kinds->empty()) return "-";
  std::string out;
  for (const auto& [kind, version] : *n.kinds) {
    out += (out.empty() ? "" : " ") + kind + ":" + std::to_string(version);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Read-only commands (Redis only).

int cmd_nodes(const Flags& f) {
  auto reader = open_reader(f);
  if (!reader.ok()) return failed(reader.status()).report(f);
  auto rows = (*reader)->nodes();
  if (!rows.ok()) return failed(rows.status()).report(f);
  const int64_t now = wall_ms();
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      w.Key("nodes");
      w.StartArray();
      for (const auto& r : *rows) {
        const std::string node = r.info.to_json(now, r.registered ? "\"alive\":true" : "\"alive\":false");
        w.RawValue(node.data(), node.size(), rapidjson::kObjectType);
      }
      w.EndArray();
      w.EndObject();
    });
    return kOk;
  }
  Table t({"ID", "KIND", "S2S", "CAPACITY", "LIVE", "CONNS", "CLIENT ADDRESSES", "DRAINING", "HEARTBEAT", "KINDS"},
          {true, false, false, true, true, true, false, false, true, false});
  for (const auto& r : *rows) {
    const auto& n = r.info;
    const std::string age = show_age(now - n.heartbeat_ms) + " ago";
    if (!r.registered) {
      t.add({std::to_string(n.id), "?", "", "", "", "", "(dead: registration expired)", "", age});
      continue;
    }
    const bool gw = n.kind == "gateway";
    t.add({std::to_string(n.id), n.kind, n.s2s, std::to_string(n.capacity), std::to_string(n.live),
           gw ? std::to_string(n.connections) : "-", client_addresses(n), n.draining ? "yes" : "no", age,
           kinds_column(n)});
  }
  std::fputs(t.render().c_str(), stdout);
  return kOk;
}

int cmd_count(const Flags& f) {
  auto reader = open_reader(f);
  if (!reader.ok()) return failed(reader.status()).report(f);
  auto rows = (*reader)->nodes();
  if (!rows.ok()) return failed(rows.status()).report(f);
  uint64_t total = 0;
  for (const auto& r : *rows) total += r.registered ? r.info.live : 0;
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      w.Key("nodes");
      w.StartArray();
      for (const auto& r : *rows) {
        if (!r.registered) continue;
        w.StartObject();
        w.Key("id");
        w.Uint(r.info.id);
        write_key_string(w, "kind", r.info.kind);
        w.Key("processes");
        w.Uint64(r.info.live);
        w.EndObject();
      }
      w.EndArray();
      w.Key("total");
      w.Uint64(total);
      w.EndObject();
    });
    return kOk;
  }
  Table t({"NODE", "KIND", "PROCESSES"}, {true, false, true});
  for (const auto& r : *rows) {
    if (r.registered) t.add({std::to_string(r.info.id), r.info.kind, std::to_string(r.info.live)});
  }
  t.add({"total", "", std::to_string(total)});
  std::fputs(t.render().c_str(), stdout);
  return kOk;
}

int cmd_where(const Flags& f) {
  auto reader = open_reader(f);
  if (!reader.ok()) return failed(reader.status()).report(f);
  auto entry = (*reader)->where(f.name);
  if (!entry.ok()) return failed(entry.status()).report(f);
  if (!*entry) return Failure(kFailed, "no process named " + f.name + " in the directory").report(f);
  const DirEntry& e = **entry;
  auto rows = (*reader)->nodes();
  if (!rows.ok()) return failed(rows.status()).report(f);
  std::string kind;
  bool alive = false;
  for (const auto& r : *rows) {
    if (r.info.id == e.node && r.registered) {
      alive = true;
      kind = r.info.kind;
    }
  }
  if (!alive) {
    return Failure(kFailed, f.name + " was on node " + std::to_string(e.node) +
                                ", which is not alive (its entry goes with the node's cleanup)")
        .report(f);
  }
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      write_key_string(w, "name", f.name);
      w.Key("node");
      w.Uint(e.node);
      write_key_string(w, "kind", kind);
      write_key_string(w, "pid", e.pid.to_string());
      w.Key("pid_raw");
      w.Uint64(e.pid.raw());
      w.EndObject();
    });
    return kOk;
  }
  Table t({"NAME", "NODE", "PID"}, {false, true, false});
  t.add({f.name, std::to_string(e.node), e.pid.to_string()});
  std::fputs(t.render().c_str(), stdout);
  return kOk;
}

// ---------------------------------------------------------------------------------------
// Commands that join the cluster for a moment.

struct Joined {
  std::unique_ptr<ClusterReader> reader;
  std::unique_ptr<CtlNode> node;
};

Result<Joined> join(const Flags& f) {
  Joined j;
  auto reader = open_reader(f);
  if (!reader.ok()) return reader.status();
  j.reader = std::move(*reader);
  auto node = CtlNode::join(*j.reader, cluster_options(f), f.timeout());
  if (!node.ok()) return node.status();
  j.node = std::move(*node);
  return j;
}

int cmd_send_or_call(const Flags& f, bool call) {
  auto proto_id = parse_proto(f.proto_text);
  if (!proto_id.ok()) return Failure(kUsage, proto_id.status().message()).report(f);
  auto body = parse_body(f);
  if (!body.ok()) return Failure(kUsage, body.status().message()).report(f);
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  Result<Pid> pid = j->node->resolve(f.name);
  if (!pid.ok()) return failed(pid.status()).report(f);
  const size_t size = body->size();
  if (!call) {
    if (Status s = j->node->send(*pid, *proto_id, std::move(*body)); !s.ok()) return failed(s).report(f);
    j->node->leave();
    if (f.json) {
      print_json([&](JsonWriter& w) {
        w.StartObject();
        write_key_string(w, "name", f.name);
        write_key_string(w, "pid", pid->to_string());
        w.Key("node");
        w.Uint(pid->node());
        w.Key("proto_id");
        w.Uint(*proto_id);
        w.Key("bytes");
        w.Uint64(size);
        w.Key("delivered");
        w.Bool(true);
        w.EndObject();
      });
    } else {
      std::printf("sent protoID %u (%zu bytes) to %s %s on node %u\n", *proto_id, size, f.name.c_str(),
                  pid->to_string().c_str(), pid->node());
    }
    return kOk;
  }
  auto reply = j->node->call(*pid, *proto_id, std::move(*body), f.timeout());
  if (!reply.ok()) return failed(reply.status()).report(f);
  j->node->leave();
  const bool text = printable(reply->body);
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      write_key_string(w, "name", f.name);
      write_key_string(w, "pid", pid->to_string());
      w.Key("proto_id");
      w.Uint(*proto_id);
      w.Key("reply_proto_id");
      w.Uint(reply->proto_id);
      write_key_string(w, "encoding", text ? "text" : "hex");
      write_key_string(w, "body", text ? reply->body : to_hex(reply->body));
      write_key_string(w, "body_hex", to_hex(reply->body));
      w.EndObject();
    });
  } else {
    std::printf("%s\n", text ? reply->body.c_str() : to_hex(reply->body).c_str());
  }
  return kOk;
}

int cmd_stop(const Flags& f) {
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  Result<Pid> pid = j->node->resolve(f.name);
  if (!pid.ok()) return failed(pid.status()).report(f);
  Result<std::string> why = j->node->stop(*pid, f.stop_reason);
  if (!why.ok()) return failed(why.status()).report(f);
  j->node->leave();
  // The name leaves the directory right after the process: wait for it, so that a `where`
  // after this command already agrees.
  const auto deadline = std::chrono::steady_clock::now() + f.timeout();
  while (true) {
    auto e = j->reader->where(f.name);
    if (!e.ok()) return failed(e.status()).report(f);
    if (!*e || (*e)->pid != *pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Failure(kFailed, pid->to_string() + " ended (" + *why + ") but " + f.name + " is still in the directory")
          .report(f);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      write_key_string(w, "name", f.name);
      write_key_string(w, "pid", pid->to_string());
      w.Key("node");
      w.Uint(pid->node());
      write_key_string(w, "reason", *why);
      w.EndObject();
    });
  } else {
    std::printf("stopped %s %s on node %u (reason: %s)\n", f.name.c_str(), pid->to_string().c_str(), pid->node(),
                why->c_str());
  }
  return kOk;
}

int cmd_kick(const Flags& f) {
  std::string user = f.name.starts_with("user/") ? f.name.substr(5) : f.name;
  if (user.empty()) return Failure(kUsage, "kick needs a user name").report(f);
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  auto rows = j->reader->nodes();
  if (!rows.ok()) return failed(rows.status()).report(f);
  std::vector<uint16_t> gateways;
  for (const auto& r : *rows) {
    if (r.registered && r.info.kind == "gateway") gateways.push_back(r.info.id);
  }
  if (gateways.empty()) return Failure(kFailed, "no gateway is alive in the cluster").report(f);
  auto kicked = j->node->kick(gateways, user, f.kick_reason);
  if (!kicked.ok()) return failed(kicked.status()).report(f);
  j->node->leave();
  if (kicked->total == 0) {
    return Failure(kFailed, "user " + user + " has no connection on any of the " + std::to_string(gateways.size()) +
                                " gateway(s)")
        .report(f);
  }
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      write_key_string(w, "user", user);
      w.Key("kicked");
      w.Uint64(kicked->total);
      w.Key("gateways");
      w.StartArray();
      for (const auto& g : kicked->gateways) {
        w.StartObject();
        w.Key("id");
        w.Uint(g.gateway);
        w.Key("kicked");
        w.Uint64(g.kicked);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    });
  } else {
    std::string where;
    for (const auto& g : kicked->gateways) {
      if (g.kicked) where += (where.empty() ? "" : ", ") + std::string("gateway ") + std::to_string(g.gateway);
    }
    std::printf("kicked %s: %llu connection(s) closed (%s)\n", user.c_str(),
                static_cast<unsigned long long>(kicked->total), where.c_str());
  }
  return kOk;
}

int evacuate(const Flags& f);

NameServerAdmin name_server(const Flags& f) {
  NameServerAdmin ns;
  ns.url = f.name_server;
  ns.token = f.admin_token;
  ns.tls_ca = f.tls_ca;
  ns.tls_insecure = f.tls_insecure;
  ns.timeout = f.timeout();
  return ns;
}

EvacuationLimits evacuation_limits(const Flags& f) {
  EvacuationLimits l;
  l.total = Millis(f.evacuate_timeout_ms);
  l.stall = Millis(f.stall_timeout_ms);
  return l;
}

// Opens the JSON object of drain and drain --evacuate: {"node": N, "draining": on, ...
void write_node_draining(JsonWriter& w, int node, bool on) {
  w.StartObject();
  w.Key("node");
  w.Uint(static_cast<unsigned>(node));
  w.Key("draining");
  w.Bool(on);
}

int cmd_drain(const Flags& f, bool on) {
  if (Status s = name_server(f).drain(static_cast<uint16_t>(f.node_id), on); !s.ok()) return failed(s).report(f);
  if (on && f.evacuate) {
    if (!f.json) std::printf("node %d is draining: no new players are placed there\n", f.node_id);
    return evacuate(f);
  }
  if (f.json) {
    print_json([&](JsonWriter& w) {
      write_node_draining(w, f.node_id, on);
      w.EndObject();
    });
  } else {
    std::printf(on ? "node %d is draining: no new players are placed there\n" : "node %d takes new players again\n",
                f.node_id);
  }
  return kOk;
}

int cmd_migrate(const Flags& f) {
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  Result<Pid> from = j->node->resolve(f.name);
  if (!from.ok()) return failed(from.status()).report(f);
  const auto started = std::chrono::steady_clock::now();
  // The move is two steps (the state's save, the adoption) of up to 5 s each, then a check.
  Result<Pid> to = j->node->migrate(f.name, static_cast<uint16_t>(f.to_node), std::max(f.timeout(), Millis(16000)));
  if (!to.ok()) return failed(to.status()).report(f);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  j->node->leave();
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      write_key_string(w, "name", f.name);
      write_key_string(w, "from", from->to_string());
      write_key_string(w, "to", to->to_string());
      w.Key("node");
      w.Uint(to->node());
      w.Key("ms");
      w.Double(ms);
      w.EndObject();
    });
  } else {
    std::printf("moved %s from %s to %s (node %u) in %.1f ms\n", f.name.c_str(), from->to_string().c_str(),
                to->to_string().c_str(), static_cast<unsigned>(to->node()), ms);
  }
  return kOk;
}

// reload NODE PATH: the node's report, as JSON or as a few lines; exit 1 unless it runs the
// new library now.
int cmd_reload(const Flags& f) {
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  // Upgrading every live process, then (on a failure) rolling back: up to 30 s each.
  Result<std::string> report = j->node->reload(static_cast<uint16_t>(f.node_id), f.name, std::max(f.timeout(), Millis(75000)));
  j->node->leave();
  if (!report.ok()) return failed(report.status()).report(f);
  rapidjson::Document d;
  if (d.Parse(report->c_str()).HasParseError() || !d.IsObject() || !d.HasMember("ok")) {
    return failed(Status::internal("node " + std::to_string(f.node_id) + " answered no report: " + *report)).report(f);
  }
  const bool ok = d["ok"].GetBool();
  if (f.json) {
    std::printf("%s\n", report->c_str());
  } else {
    auto num = [&](const char* k) { return static_cast<unsigned long long>(d[k].GetUint64()); };
    if (ok) {
      std::printf("node %d runs %s now:", f.node_id, f.name.c_str());
      for (const auto& k : d["kinds"].GetArray()) std::printf(" %s v%u", k["kind"].GetString(), k["version"].GetUint());
      std::printf("\n%llu live processes upgraded in %.3f s (longest pause %.2f ms)", num("upgraded"),
                  d["seconds"].GetDouble(), d["longest_slice_ms"].GetDouble());
      if (num("busy")) std::printf("; %llu were mid-handler and keep the old code until they end", num("busy"));
      std::printf("\n");
    } else {
      std::fprintf(stderr, "%s\n", d["error"].GetString());
      for (const auto& e : d["errors"].GetArray()) std::fprintf(stderr, "  %s\n", e.GetString());
    }
  }
  return ok ? kOk : kFailed;
}

// drain --evacuate, after the drain itself: steps of the node's evacuation until it holds no
// named process, a progress line whenever the count changes (upgrade.h).
int evacuate(const Flags& f) {
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  const uint16_t node = static_cast<uint16_t>(f.node_id);
  Result<Evacuated> done = evacuate_until_empty(*j->node, node, evacuation_limits(f), [&](int64_t left, int64_t moving) {
    if (f.json) return;
    std::printf("node %d: %lld named processes left (%lld moving)\n", f.node_id, static_cast<long long>(left),
                static_cast<long long>(moving));
    std::fflush(stdout);
  });
  if (!done.ok()) return failed(done.status()).report(f);
  j->node->leave();
  if (f.json) {
    print_json([&](JsonWriter& w) {
      write_node_draining(w, f.node_id, true);
      w.Key("evacuated");
      w.Int64(done->names);
      w.Key("seconds");
      w.Double(done->seconds);
      w.Key("empty");
      w.Bool(true);
      w.EndObject();
    });
  } else {
    std::printf("node %d is empty: %lld named processes moved or stopped in %.1f s\n", f.node_id,
                static_cast<long long>(done->names), done->seconds);
  }
  return kOk;
}

// upgrade: the orchestrator has started the new nodes (--new) next to the old ones (--old);
// once the new ones are ready, each old node in turn is drained and evacuated until empty.
// Stopping the old nodes is the orchestrator's part (they exit 0 on SIGTERM). A failure stops
// the upgrade there: that node is resumed and keeps serving, the ones after it are untouched.
int cmd_upgrade(const Flags& f) {
  auto olds = parse_node_list(f.old_nodes);
  if (!olds.ok()) return Failure(kUsage, "--old: " + olds.status().message()).report(f);
  std::vector<uint16_t> news;
  if (!f.new_nodes.empty()) {
    auto parsed = parse_node_list(f.new_nodes);
    if (!parsed.ok()) return Failure(kUsage, "--new: " + parsed.status().message()).report(f);
    news = *parsed;
  }
  for (uint16_t n : news) {
    for (uint16_t o : *olds) {
      if (n == o) return Failure(kUsage, "node " + std::to_string(n) + " is both old and new").report(f);
    }
  }
  auto j = join(f);
  if (!j.ok()) return failed(j.status()).report(f);
  const auto started = std::chrono::steady_clock::now();
  const NameServerAdmin ns = name_server(f);
  Status ready = wait_for_local_nodes(*j->reader, news, Millis(f.ready_timeout_ms));
  if (ready.ok()) ready = ns.wait_until_placing(news, Millis(f.ready_timeout_ms));  // and it places players there
  if (!ready.ok()) return failed(ready).report(f);
  // Somewhere to go: at least one live local server that is neither old nor draining.
  auto rows = j->reader->nodes();
  if (!rows.ok()) return failed(rows.status()).report(f);
  bool target = false;
  for (const auto& r : *rows) {
    bool old = false;
    for (uint16_t o : *olds) old |= r.info.id == o;
    target |= r.registered && r.info.kind == "local" && !r.info.draining && !old;
  }
  if (!target) {
    return Failure(kFailed, "no live local server other than the old ones to move the processes to: start the new "
                            "ones first")
        .report(f);
  }
  struct Done {
    uint16_t node;
    Evacuated e;
  };
  std::vector<Done> done;
  // Every old node drained at once: new players go to the new nodes only, and each process
  // moves once (to a new node) instead of hopping from old node to old node.
  for (uint16_t node : *olds) {
    if (Status s = ns.drain(node, true); !s.ok()) {
      for (uint16_t o : *olds) (void)ns.drain(o, false);
      return Failure(kFailed, "draining node " + std::to_string(node) + ": " + s.message()).report(f);
    }
  }
  for (uint16_t node : *olds) {
    if (!f.json) {
      std::printf("node %u: draining and evacuating\n", node);
      std::fflush(stdout);
    }
    Result<Evacuated> e = drain_and_evacuate(ns, *j->node, node, evacuation_limits(f), [&](int64_t left, int64_t moving) {
      if (f.json) return;
      std::printf("node %u: %lld named processes left (%lld moving)\n", node, static_cast<long long>(left),
                  static_cast<long long>(moving));
      std::fflush(stdout);
    });
    if (!e.ok()) {
      for (size_t i = done.size(); i < olds->size(); ++i) (void)ns.drain((*olds)[i], false);  // they keep serving
      std::string upgraded;
      for (const auto& d : done) upgraded += (upgraded.empty() ? "" : ",") + std::to_string(d.node);
      return Failure(kFailed, e.status().message() + " (upgrade stopped; already empty: " +
                                  (upgraded.empty() ? "none" : upgraded) + ")")
          .report(f);
    }
    // It still relays what arrives for the pids that moved away: say "stop it" only after that.
    std::this_thread::sleep_for(Millis(f.settle_ms));
    done.push_back({node, *e});
    if (!f.json) {
      std::printf("node %u is empty: %lld named processes moved or stopped in %.1f s; stop it now\n", node,
                  static_cast<long long>(e->names), e->seconds);
      std::fflush(stdout);
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  j->node->leave();
  if (f.json) {
    print_json([&](JsonWriter& w) {
      w.StartObject();
      w.Key("nodes");
      w.StartArray();
      for (const auto& d : done) {
        w.StartObject();
        w.Key("node");
        w.Uint(d.node);
        w.Key("evacuated");
        w.Int64(d.e.names);
        w.Key("seconds");
        w.Double(d.e.seconds);
        w.Key("empty");
        w.Bool(true);
        w.EndObject();
      }
      w.EndArray();
      w.Key("seconds");
      w.Double(total);
      w.EndObject();
    });
  } else {
    std::printf("upgrade: %zu node(s) empty in %.1f s\n", done.size(), total);
  }
  return kOk;
}

bool finish(Flags& f, std::string* error) {
  if (f.timeout_ms <= 0) {
    *error = "--timeout-ms must be positive";
    return false;
  }
  if (!f.redis_sentinels.empty()) {
    // The cluster is read from the primary the sentinels name now; ctl's own node (send,
    // call, drain) follows a failover like a server's.
    if (!parse_sentinel_list(f.redis_sentinels, &f.sentinels, error)) return false;
    if (f.sentinels.empty() || f.master_name.empty()) {
      *error = "--redis-sentinels needs sentinels and --redis-master-name";
      return false;
    }
    RedisOptions o;
    o.sentinels = f.sentinels;
    o.master_name = f.master_name;
    o.sentinel_password = f.sentinel_password;
    std::string why;
    if (!resolve_primary_blocking(o, static_cast<int>(std::min<int64_t>(f.timeout_ms, 2000)), &f.target.host,
                                  &f.target.port, &why)) {
      *error = "no sentinel named the primary of '" + f.master_name + "': " + why;
      return false;
    }
    return true;
  }
  auto colon = f.redis.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *error = "--redis must be host:port, got '" + f.redis + "'";
    return false;
  }
  f.target.host = f.redis.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(f.redis.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) {
    *error = "--redis has a bad port: '" + f.redis + "'";
    return false;
  }
  f.target.port = static_cast<int>(port);
  if (f.timeout_ms <= 0) {
    *error = "--timeout-ms must be positive";
    return false;
  }
  return true;
}

}  // namespace
}  // namespace behavior::ctl

int main(int argc, char** argv) {
  using namespace behavior::ctl;
  Flags f;
  CLI::App app{"ctl: the behavior cluster's admin CLI"};
  behavior::add_version_flag(app, "ctl");
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  app.add_option("--redis", f.redis, "Redis host:port of the cluster")->envname("BEHAVIOR_REDIS")->capture_default_str();
  app.add_option("--redis-password", f.target.password, "Redis AUTH password")->envname("BEHAVIOR_REDIS_PASSWORD");
  behavior::add_sentinel_flags(app, f.redis_sentinels, f.master_name, f.sentinel_password);
  app.add_option("--redis-prefix", f.target.prefix, "Prefix of every Redis key")
      ->envname("BEHAVIOR_REDIS_PREFIX")
      ->capture_default_str();
  app.add_option("--cluster-secret", f.secret, "The cluster secret (send, call, stop, kick; prefer the env variable)")
      ->envname("BEHAVIOR_CLUSTER_SECRET");
  app.add_option("--s2s-host", f.s2s_host, "Address ctl's s2s listener binds (the nodes must reach it)")
      ->envname("BEHAVIOR_S2S_HOST")
      ->capture_default_str();
  app.add_option("--name-server", f.name_server, "Name server base URL (drain, resume)")
      ->envname("BEHAVIOR_NAME_SERVER")
      ->capture_default_str();
  app.add_option("--admin-token", f.admin_token, "The name server's admin token (drain, resume)")
      ->envname("BEHAVIOR_ADMIN_TOKEN");
  app.add_option("--tls-ca", f.tls_ca, "An https name server: PEM CA file to verify it (default: the system's store)")
      ->envname("BEHAVIOR_TLS_CA");
  app.add_flag("--tls-insecure", f.tls_insecure, "An https name server: do not verify its certificate (local use)");
  // The cluster's timing, as the servers have it: ctl's node judges the others' heartbeats by it.
  for (auto [flag, value, env] : {std::tuple{"--heartbeat-ms", &f.heartbeat_ms, "BEHAVIOR_HEARTBEAT_MS"},
                                  std::tuple{"--ttl-ms", &f.ttl_ms, "BEHAVIOR_TTL_MS"}}) {
    app.add_option(flag, *value, "The cluster's value (as the servers')")->envname(env)->capture_default_str();
  }
  app.add_flag("--json", f.json, "Machine output: one JSON document per command");
  app.add_option("--timeout-ms", f.timeout_ms, "Deadline of each step (joining, a call, a stop, HTTP)")
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "Log level of ctl's own node (on stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();

  auto* nodes = app.add_subcommand("nodes", "List nodes and gateways with their registrations");
  auto* count = app.add_subcommand("count", "Processes per node and in total");
  auto* where = app.add_subcommand("where", "Which node and pid a process name lives on (exit 1: nowhere)");
  where->add_option("name", f.name, "Process name, e.g. user/alice")->required();
  auto body_options = [&f](CLI::App* c) {
    c->add_option("name", f.name, "Process name")->required();
    c->add_option("protoID", f.proto_text, "Message protoID (decimal or 0x...)")->required();
    c->add_option("body", f.body, "Message body (text unless --body-hex / --body-json)");
    auto* hex = c->add_flag("--body-hex", f.body_hex, "The body is hex digits");
    auto* json = c->add_flag("--body-json", f.body_json, "The body is a flat JSON object (sent as a JsonMap)");
    hex->excludes(json);
  };
  auto* send = app.add_subcommand("send", "Send an info message to a process");
  body_options(send);
  auto* call = app.add_subcommand("call", "Call a process and print its reply (text if printable, else hex)");
  body_options(call);
  auto* stop = app.add_subcommand("stop", "Stop a process and wait until it has ended");
  stop->add_option("name", f.name, "Process name")->required();
  stop->add_option("--reason", f.stop_reason, "Exit reason given to the process")->capture_default_str();
  auto* drain = app.add_subcommand("drain", "Place no new players on a node (name server admin API)");
  drain->add_option("node-id", f.node_id, "Node id")->required()->check(behavior::integer_in(1, 65535));
  drain->add_flag("--evacuate", f.evacuate,
                  "Also move every durable process off the node (the others stop gracefully) and wait until it is empty");
  // drain --evacuate and upgrade: when an evacuation gives up.
  auto evacuation_limits = [&f](CLI::App* c) {
    c->add_option("--evacuate-timeout-ms", f.evacuate_timeout_ms, "Give up an evacuation after this long")
        ->capture_default_str();
    c->add_option("--stall-timeout-ms", f.stall_timeout_ms,
                  "Give up an evacuation when no process moved off the node for this long")
        ->capture_default_str();
  };
  evacuation_limits(drain);
  auto* resume = app.add_subcommand("resume", "Place players on a drained node again");
  resume->add_option("node-id", f.node_id, "Node id")->required()->check(behavior::integer_in(1, 65535));
  auto* kick = app.add_subcommand("kick", "Close a user's client connection with a KICK frame; the process lives on");
  kick->add_option("user", f.name, "User name (or user/<name>)")->required();
  kick->add_option("--reason", f.kick_reason, "Reason sent in the KICK frame")->capture_default_str();

  auto* reload = app.add_subcommand("reload", "Hot update: a node reloads a kinds library, live processes upgraded in place");
  reload->add_option("node", f.node_id, "The local server's node id")->required()->check(behavior::integer_in(1, 65535));
  reload->add_option("path", f.name, "The new library's path, on that node's machine")->required();
  auto* migrate = app.add_subcommand("migrate", "Move a durable process to another node while it keeps serving");
  migrate->add_option("name", f.name, "Process name, e.g. user/alice")->required();
  migrate->add_option("--to", f.to_node, "The node to move it to")->required()->check(behavior::integer_in(1, 65535));

  auto* upgrade = app.add_subcommand(
      "upgrade", "Rolling upgrade: once the new nodes are ready, drain and evacuate each old node in turn");
  upgrade->add_option("--old", f.old_nodes, "The old nodes, in order (e.g. 1,2,3)")->required();
  upgrade->add_option("--new", f.new_nodes, "Their replacements, already started: wait until they are ready");
  upgrade->add_option("--ready-timeout-ms", f.ready_timeout_ms, "How long the new nodes may take to be ready")
      ->capture_default_str();
  upgrade->add_option("--settle-ms", f.settle_ms,
                      "After a node is empty, wait this long (it relays for the moved processes) before it may stop")
      ->capture_default_str();
  evacuation_limits(upgrade);

  if (int code = behavior::parse_command_line(app, argc, argv); code >= 0) return code;
  std::string error;
  if (!finish(f, &error)) {
    std::fprintf(stderr, "ctl: %s\n", error.c_str());
    return kUsage;
  }
  auto logger = spdlog::stderr_color_mt("ctl");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ ctl %v");
  spdlog::set_level(spdlog::level::from_str(f.log_level));

  if (nodes->parsed()) return cmd_nodes(f);
  if (count->parsed()) return cmd_count(f);
  if (where->parsed()) return cmd_where(f);
  if (send->parsed()) return cmd_send_or_call(f, false);
  if (call->parsed()) return cmd_send_or_call(f, true);
  if (stop->parsed()) return cmd_stop(f);
  if (drain->parsed()) return cmd_drain(f, true);
  if (resume->parsed()) return cmd_drain(f, false);
  if (kick->parsed()) return cmd_kick(f);
  if (migrate->parsed()) return cmd_migrate(f);
  if (reload->parsed()) return cmd_reload(f);
  if (upgrade->parsed()) return cmd_upgrade(f);
  return kUsage;
}
