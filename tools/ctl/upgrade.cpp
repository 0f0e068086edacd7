// upgrade.cpp — see upgrade.h.
#include "upgrade.h"

#include <rapidjson/document.h>

#include <chrono>
#include <set>
#include <thread>

#include "admin_http.h"

namespace behavior::ctl {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// An https name server: a client context checking its certificate against tls_ca; else null.
Result<std::shared_ptr<TlsContext>> NameServerAdmin::tls_context() const {
  if (!url.starts_with("https://")) return std::shared_ptr<TlsContext>();
  return TlsContext::client(tls_ca, tls_insecure);
}

Status NameServerAdmin::drain(uint16_t node, bool on) const {
  auto tls = tls_context();
  if (!tls.ok()) return tls.status();
  return set_drain(url, node, on, token, timeout, tls->get());
}

Status NameServerAdmin::wait_until_placing(const std::vector<uint16_t>& ids, Millis within) const {
  auto tls = tls_context();
  if (!tls.ok()) return tls.status();
  const auto deadline = Clock::now() + within;
  std::string missing;
  while (true) {
    Result<HttpAnswer> got = http_request(url, "GET", "/v1/cluster", token, timeout, tls->get());
    missing.clear();
    rapidjson::Document d;
    if (!got.ok() || got->status != 200 || d.Parse(got->body.c_str()).HasParseError() || !d.IsObject() ||
        !d.HasMember("nodes") || !d["nodes"].IsArray()) {
      missing = got.ok() ? "the name server answered " + std::to_string(got->status) : got.status().message();
    } else {
      for (uint16_t id : ids) {
        bool placing = false;
        for (const auto& n : d["nodes"].GetArray()) {
          if (!n.IsObject() || !n.HasMember("id") || !n["id"].IsUint() || n["id"].GetUint() != id) continue;
          placing = n.HasMember("kind") && n["kind"].IsString() && std::string(n["kind"].GetString()) == "local" &&
                    n.HasMember("draining") && n["draining"].IsBool() && !n["draining"].GetBool();
        }
        if (!placing) missing += (missing.empty() ? "node " : ", node ") + std::to_string(id);
      }
    }
    if (missing.empty()) return {};
    if (Clock::now() >= deadline) {
      return Status::timeout("the name server does not place players on " + missing + " after " +
                             std::to_string(within.count()) + " ms");
    }
    std::this_thread::sleep_for(Millis(100));
  }
}

Result<Evacuated> evacuate_until_empty(CtlNode& ctl, uint16_t node, const EvacuationLimits& limits,
                                       const EvacuationProgress& progress) {
  const auto started = Clock::now();
  auto last_drop = started;
  Evacuated out;
  int64_t last = -1;
  for (bool counted = false;;) {
    Result<JsonMap> step = ctl.evacuate(node);
    if (!step.ok()) {
      // A busy node may answer a step late: ask again until the stall limit; anything else
      // (the node gone, a refusal) ends the evacuation.
      const bool late = step.status().code() == Code::kTimeout ||
                        step.status().message().find("timed out") != std::string::npos;
      if (late && Clock::now() - last_drop < limits.stall) {
        std::this_thread::sleep_for(limits.step);
        continue;
      }
      return Status(step.status().code(), "evacuating node " + std::to_string(node) + ": " + step.status().message());
    }
    const int64_t left = step->get_int("names").value_or(-1);
    if (left < 0) return Status::internal("node " + std::to_string(node) + " answered an evacuation step without a count");
    if (!counted) {
      out.names = left;
      counted = true;
    }
    if (left == 0) break;
    const auto now = Clock::now();
    if (left != last) {
      if (last < 0 || left < last) last_drop = now;
      if (progress) progress(left, step->get_int("moving").value_or(0));
      last = left;
    }
    const auto ms = [](Clock::duration d) { return std::chrono::duration_cast<Millis>(d).count(); };
    if (now - started >= limits.total) {
      return Status::timeout("node " + std::to_string(node) + " still holds " + std::to_string(left) +
                             " named processes after " + std::to_string(ms(now - started)) + " ms");
    }
    if (now - last_drop >= limits.stall) {
      return Status::timeout("the evacuation of node " + std::to_string(node) + " stalled: " + std::to_string(left) +
                             " named processes left, none moved in the last " + std::to_string(ms(now - last_drop)) +
                             " ms");
    }
    std::this_thread::sleep_for(limits.step);
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return out;
}

Result<Evacuated> drain_and_evacuate(const NameServerAdmin& ns, CtlNode& ctl, uint16_t node,
                                     const EvacuationLimits& limits, const EvacuationProgress& progress) {
  if (Status s = ns.drain(node, true); !s.ok()) {
    return Status(s.code(), "draining node " + std::to_string(node) + ": " + s.message());
  }
  Result<Evacuated> done = evacuate_until_empty(ctl, node, limits, progress);
  if (done.ok()) return done;
  const Status resumed = ns.drain(node, false);
  return Status(done.status().code(),
                done.status().message() + (resumed.ok() ? "; node " + std::to_string(node) + " resumed: it keeps serving"
                                                        : "; resuming node " + std::to_string(node) +
                                                              " failed too: " + resumed.message()));
}

Status wait_for_local_nodes(ClusterReader& reader, const std::vector<uint16_t>& ids, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string missing;
  while (true) {
    auto rows = reader.nodes();
    if (!rows.ok()) return rows.status();
    missing.clear();
    for (uint16_t id : ids) {
      const NodeRow* row = nullptr;
      for (const auto& r : *rows) {
        if (r.info.id == id) row = &r;
      }
      std::string why;
      if (!row || !row->registered) {
        why = "not registered";
      } else if (row->info.kind != "local") {
        why = "of kind " + row->info.kind + ", not local";
      } else if (row->info.draining) {
        why = "draining";
      }
      if (!why.empty()) missing += (missing.empty() ? "" : ", ") + std::string("node ") + std::to_string(id) + " " + why;
    }
    if (missing.empty()) return {};
    if (Clock::now() >= deadline) {
      return Status::timeout("the new nodes are not ready after " + std::to_string(timeout.count()) + " ms: " + missing);
    }
    std::this_thread::sleep_for(Millis(100));
  }
}

Result<std::vector<uint16_t>> parse_node_list(const std::string& text) {
  std::vector<uint16_t> out;
  std::set<uint16_t> seen;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(at, comma - at);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 65535) {
      return Status::invalid_argument("node ids are comma-separated numbers from 1 to 65535, got '" + text + "'");
    }
    if (!seen.insert(static_cast<uint16_t>(v)).second) {
      return Status::invalid_argument("node " + item + " is listed twice in '" + text + "'");
    }
    out.push_back(static_cast<uint16_t>(v));
    at = comma + 1;
  }
  return out;
}

}  // namespace behavior::ctl
