// runtime.cpp — placement, spawn, routing and the answers to undeliverable messages. The
// path of a message: Actor::send → Runtime::route → (same worker) Shard::dispatch, or
// (another worker) Shard::post → its loop's drain → dispatch → mailbox → execute → route().
#include "runtime.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "durability.h"

#include <behavior/system.pb.h>

namespace behavior::detail {

Runtime::Runtime(Node& node, NodeOptions options) : node_(node), options_(std::move(options)) {
  if (options_.workers <= 0) {
    options_.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  options_.workers = std::min(options_.workers, 254);
  for (int i = 0; i < options_.workers; ++i) {
    shards_.push_back(std::make_unique<Shard>(*this, static_cast<uint8_t>(i)));
  }
}

Runtime::~Runtime() { shutdown(); }

Status Runtime::start() {
  if (running_.exchange(true)) return Status::invalid_argument("node already started");
  for (auto& s : shards_) s->start();
  return {};
}

void Runtime::shutdown() {
  if (!running_.load()) return;
  if (RemoteRoute* r = remote()) r->before_shutdown();  // leaves the cluster; may clear remote_
  if (!running_.exchange(false)) return;
  for (auto& s : shards_) s->request_stop();
  for (auto& s : shards_) s->join();
}

void Runtime::passivate_durable(Millis timeout) {
  passivating_ = true;
  if (durable_.live.load() == 0 || !running()) return;
  for (auto& s : shards_) s->post_task([sh = s.get()] { sh->passivate_durable(); });
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (durable_.live.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Shard* Runtime::place(const SpawnOptions& o, Shard* here) {
  const size_t n = shards_.size();
  if (o.shard >= 0) return shards_[static_cast<size_t>(o.shard) % n].get();
  // Least loaded, scanning from a rotating start so ties spread out.
  uint32_t start = cursor_.load(std::memory_order_relaxed);
  Shard* least = nullptr;
  uint64_t least_live = UINT64_MAX;
  for (size_t i = 0; i < n; ++i) {
    Shard* s = shards_[(start + i) % n].get();
    uint64_t l = s->live.load(std::memory_order_relaxed);
    if (l < least_live) {
      least = s;
      least_live = l;
    }
  }
  const uint32_t slack = options_.placement_slack;
  if (slack == 0) {
    cursor_.store(static_cast<uint32_t>((least->index() + 1) % n), std::memory_order_relaxed);
    return least;
  }
  // Stay near the spawner (or the last choice) while it is within `slack` of the least.
  Shard* preferred = here ? here : shards_[start % n].get();
  if (preferred->live.load(std::memory_order_relaxed) <= least_live + slack) return preferred;
  if (!here) cursor_.store(least->index(), std::memory_order_relaxed);
  return least;
}

Result<Pid> Runtime::spawn(std::unique_ptr<Router> router, SpawnOptions o, Actor* parent, KindRef code) {
  if (!running()) return Status::shutdown("node is not running");
  if (!router) return Status::invalid_argument("spawn needs a router");
  if (o.durable.enabled && passivating_.load(std::memory_order_relaxed)) {
    return Status::shutdown("node is stopping: no new durable processes");
  }
  Shard* here = Shard::current();
  if (here && &here->runtime() != this) here = nullptr;
  Shard* target = place(o, here);
  Pid pid(node_id(), target->index(), target->next_serial());
  if (!o.name.empty()) {
    Pid owner = names_.try_register(o.name, pid);
    if (owner != pid) {
      return Status::already_exists("name " + o.name + " is taken by " + owner.to_string());
    }
  }
  auto* a = new Actor();
  a->pid_ = pid;
  a->writer_ = o.writer;
  a->router_ = router.release();
  a->router_->attach(a);
  a->shard_ = target;
  a->mb_limit_ = o.mailbox_limit;
  a->overflow_ = o.overflow;
  a->idle_ns_ = o.idle_timeout.count() * 1'000'000;
  a->held_ = o.held;
  const bool parent_link = o.link.valid() && parent && parent->pid_ == o.link;
  if (!o.name.empty() || !o.kind.empty() || o.link.valid() || code) {
    auto& x = a->ext();
    x.name = std::move(o.name);
    x.kind = std::move(o.kind);
    x.version = o.version;
    x.code = std::move(code);
    if (o.link.valid()) x.links.push_back(o.link);  // born linked; the other side is told below
  }
  if (parent_link) parent->ext().links.push_back(pid);
  if (o.durable.enabled) Durability::init(a, o.durable);
  target->live.fetch_add(1, std::memory_order_relaxed);
  if (target == here) {
    here->adopt(a);
  } else {
    target->post_spawn(a);
  }
  if (o.link.valid() && !parent_link) {
    // Linked to someone other than the spawner: ask that process to link back.
    send(pid, o.link, Kind::kLink, 0, Body());
  }
  return pid;
}

Result<Pid> Runtime::spawn_kind(const KindRef& k, std::string name, Pid writer, bool held, Actor* parent) {
  std::unique_ptr<Router> router;
  try {
    router = k->factory(name);
  } catch (...) {
    return Status::internal("the factory of kind " + k->name + " threw: " + describe(std::current_exception()));
  }
  SpawnOptions o = k->spawn_options(std::move(name), writer);
  o.held = held;
  return spawn(std::move(router), std::move(o), parent, k);
}

Result<Pid> Runtime::ensure(std::string_view name, std::string_view kind_name, Pid writer) {
  if (auto pid = names_.lookup(name)) return *pid;
  KindRef k = kind(kind_name);
  if (!k) return Status::not_found("unknown process kind " + std::string(kind_name));
  Result<Pid> r = spawn_kind(k, std::string(name), writer, false, Shard::current_actor());
  if (!r.ok() && r.status().code() == Code::kAlreadyExists) {
    if (auto pid = names_.lookup(name)) return *pid;  // lost the race: use the winner
  }
  return r;
}

// One named result and one return, so the Status is built in route()'s return slot (a moved
// Status copies its string's inline buffer: 15 instructions a message, measured with
// callgrind); inlined, so no call either.
[[gnu::always_inline]] inline Status Runtime::deliver_here(Shard* s, Message* m) {
  MessagePtr owned(m);
  Status why = s->dispatch(owned);
  if (owned) [[unlikely]] bounce(std::move(owned), why);
  return why;
}

Status Runtime::route(Message* m) {
  Pid to = m->to();
  if (!running()) {
    delete m;
    return Status::shutdown("node is stopping");
  }
  if (to.node() != node_id()) {
    if (RemoteRoute* remote = this->remote()) return remote->route_remote(m);
    Status why = Status::unavailable("node " + std::to_string(to.node()) + " is not reachable");
    bounce(MessagePtr(m), why);
    return why;
  }
  if (to.shard() == Pid::kExternalShard) {
    std::lock_guard lock(endpoint_mu_);
    auto it = endpoints_.find(to.serial());
    if (it != endpoints_.end()) {
      it->second->deliver(m);
      return {};
    }
  } else if (to.shard() < shards_.size()) {
    Shard* s = shards_[to.shard()].get();
    Shard* here = Shard::current();
    if (here == s) return deliver_here(s, m);
    const bool ours = here && &here->runtime() == this;
    if (ours && here->has_guest(to)) [[unlikely]] return deliver_here(here, m);
    // Which worker's process sent it: the receiver's affinity count (shard.cpp).
    m->set_src_worker(ours && Shard::current_actor() ? here->index() : Message::kOutside);
    s->post(m);
    return {};
  }
  Status why = Status::no_process("no process " + to.to_string());
  bounce(MessagePtr(m), why);
  return why;
}

Status Runtime::route_named(std::string_view name, Message* m) {
  if (auto pid = names_.lookup(name)) {
    m->set_to(*pid);
    return route(m);
  }
  if (RemoteRoute* remote = this->remote(); remote && running()) {
    return remote->route_named(std::string(name), m);
  }
  Status why = Status::not_found("no process named " + std::string(name));
  bounce(MessagePtr(m), why);
  return why;
}

Status Runtime::send(Pid from, Pid to, Kind kind, uint32_t proto_id, Body body,
                     uint64_t request_id) {
  auto* m = new Message(to, from, kind, proto_id, std::move(body));
  m->set_request_id(request_id);
  return route(m);
}

void Runtime::bounce(MessagePtr m, const Status& why) {
  Pid from = m->from();
  Pid to = m->to();
  switch (m->kind()) {
    case Kind::kCall:
      if (from.valid()) route(Message::error_reply(from, to, m->request_id(), why));
      break;
    case Kind::kLink:
      if (from.valid()) send(to, from, Kind::kExit, 0, Body::bytes(std::string(reason::kNoProc)), kLinkExit);
      break;
    case Kind::kMonitor:
      if (from.valid()) {
        send(to, from, Kind::kDown, 0, Body::bytes(std::string(reason::kNoProc)), m->request_id());
      }
      break;
    case Kind::kInfo:
      count_dropped();
      if (from.valid() && why.code() == Code::kMailboxFull) {
        pb::Undeliverable u;
        u.set_to(to.raw());
        u.set_proto_id(m->proto_id());
        u.set_reason(why.message());
        send(Pid(), from, Kind::kInfo, proto::kUndeliverable, std::move(u));
      }
      break;
    default:
      count_dropped();
      break;
  }
}

void Runtime::forward(Message* m, Pid via, Pid to) {
  m->set_to(to);
  if (to.node() == node_id()) {
    route(m);
  } else if (RemoteRoute* remote = this->remote(); remote && running()) {
    remote->forward(m, via);
  } else {
    bounce(MessagePtr(m), Status::unavailable("node " + std::to_string(to.node()) + " is not reachable"));
  }
}

void Runtime::release(Pid pid, bool start, Body state) {
  send(Pid(), pid, Kind::kRelease, 0, std::move(state), start ? 1 : 0);
}

Result<Pid> Runtime::resolve(std::string_view name) const {
  if (auto pid = names_.lookup(name)) return *pid;
  return Status::not_found("no process named " + std::string(name));
}

void Runtime::register_kind(std::string kind, RouterFactory factory, KindOptions options) {
  std::unique_lock lock(kinds_mu_);
  const bool staged = staging_ && staging_->thread == std::this_thread::get_id();
  auto e = std::make_shared<KindEntry>(KindEntry{staged ? staging_->library : nullptr, staged ? staging_->path : "",
                                                 kind, std::move(factory), options});
  if (staged) {
    std::erase_if(staging_->entries, [&](const KindRef& k) { return k->name == kind; });
    staging_->entries.push_back(std::move(e));
  } else {
    kinds_[std::move(kind)] = std::move(e);
  }
}

KindRef Runtime::kind(std::string_view name) const {
  std::shared_lock lock(kinds_mu_);
  auto it = kinds_.find(std::string(name));
  return it == kinds_.end() ? nullptr : it->second;
}

std::vector<KindRef> Runtime::kinds() const {
  std::shared_lock lock(kinds_mu_);
  std::vector<KindRef> all;
  all.reserve(kinds_.size());
  for (const auto& [name, k] : kinds_) all.push_back(k);
  std::sort(all.begin(), all.end(), [](const KindRef& a, const KindRef& b) { return a->name < b->name; });
  return all;
}

void Runtime::begin_staging(std::shared_ptr<const void> library, std::string path) {
  std::unique_lock lock(kinds_mu_);
  staging_ = std::make_unique<Staging>(Staging{std::this_thread::get_id(), std::move(library), std::move(path), {}});
}

std::vector<KindRef> Runtime::end_staging() {
  std::unique_lock lock(kinds_mu_);
  std::vector<KindRef> entries = staging_ ? std::move(staging_->entries) : std::vector<KindRef>{};
  staging_.reset();
  return entries;
}

void Runtime::install_kinds(const std::vector<KindRef>& entries) {
  std::unique_lock lock(kinds_mu_);
  for (const auto& e : entries) kinds_[e->name] = e;
}

void Runtime::remove_kind(const std::string& name, const std::vector<KindRef>& entries) {
  std::unique_lock lock(kinds_mu_);
  auto it = kinds_.find(name);
  if (it != kinds_.end() && std::find(entries.begin(), entries.end(), it->second) != entries.end()) kinds_.erase(it);
}

Pid Runtime::add_endpoint(Endpoint* endpoint, uint64_t serial) {
  if (serial == 0) serial = endpoint_serial_.fetch_add(1) + 1;
  Pid pid(node_id(), Pid::kExternalShard, serial);
  std::lock_guard lock(endpoint_mu_);
  endpoints_[pid.serial()] = endpoint;
  return pid;
}

void Runtime::remove_endpoint(Pid pid) {
  std::lock_guard lock(endpoint_mu_);
  endpoints_.erase(pid.serial());
}

uint64_t Runtime::live() const {
  uint64_t n = 0;
  for (auto& s : shards_) n += s->live.load(std::memory_order_relaxed);
  return n;
}

double Runtime::idle_scale() const {
  if (options_.capacity == 0) return 1.0;
  double fill = static_cast<double>(live()) / options_.capacity;
  double scale = 1.0;
  for (const auto& w : options_.idle_watermarks) {
    if (fill >= w.fill) scale = std::min(scale, w.scale);
  }
  return scale;
}

NodeStats Runtime::stats() const {
  NodeStats st;
  st.live = live();
  for (auto& s : shards_) {
    const auto& c = s->counters();
    st.spawned += c.spawned.load(std::memory_order_relaxed);
    st.exited += c.exited.load(std::memory_order_relaxed);
    st.crashed += c.crashed.load(std::memory_order_relaxed);
    st.messages += c.messages.load(std::memory_order_relaxed);
    st.dropped += c.dropped.load(std::memory_order_relaxed);
    st.idle_expired += c.idle_expired.load(std::memory_order_relaxed);
    st.moved += c.moved.load(std::memory_order_relaxed);
    st.busy_ns += c.busy_ns.load(std::memory_order_relaxed);
  }
  st.workers = static_cast<uint32_t>(shards_.size());
  st.dropped += dropped_.load(std::memory_order_relaxed);
  st.durable = durable_.live.load(std::memory_order_relaxed);
  st.state_load_failures = durable_.load_failures.load(std::memory_order_relaxed);
  st.state_save_failures = durable_.save_failures.load(std::memory_order_relaxed);
  return st;
}

}  // namespace behavior::detail
