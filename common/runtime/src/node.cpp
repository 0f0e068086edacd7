// node.cpp — the public face of a runtime instance; it forwards to detail::Runtime and
// handles the process-wide concerns (signals).
#include "behavior/node.h"

#include <pthread.h>
#include <signal.h>

#include <spdlog/spdlog.h>

#include "runtime.h"

namespace behavior {
namespace {
sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

Node::Node(NodeOptions options) : rt_(std::make_unique<detail::Runtime>(*this, std::move(options))) {
  // Create spdlog's registry here, before any worker exists, rather than racing to create it
  // from the first worker that logs.
  spdlog::default_logger_raw();
  // A peer that resets a socket while we write to it (a client closing with answers unread)
  // must cost an EPIPE on that connection, not the whole process: libuv writes with plain
  // write(2), which raises SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
}

Node::~Node() { rt_->shutdown(); }

Status Node::start() {
  // Workers inherit the creating thread's mask: keep SIGINT/SIGTERM for the main thread.
  sigset_t set = termination_signals();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &set, &old);
  Status s = rt_->start();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return s;
}

void Node::shutdown() { rt_->shutdown(); }

void Node::block_termination_signals() {
  sigset_t set = termination_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int Node::wait_for_signal() {
  sigset_t set = termination_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int Node::run_until_signal() {
  int sig = wait_for_signal();
  shutdown();
  return sig;
}

Pid Node::add_endpoint(Endpoint* endpoint, uint64_t serial) { return rt_->add_endpoint(endpoint, serial); }
void Node::remove_endpoint(Pid pid) { rt_->remove_endpoint(pid); }
Status Node::route(Message* m) { return rt_->route(m); }

namespace detail {
Runtime& runtime_of(Node& node) { return *node.rt_; }
}  // namespace detail

const NodeOptions& Node::options() const { return rt_->options(); }

void Node::register_kind(std::string kind, RouterFactory factory, KindOptions options) {
  rt_->register_kind(std::move(kind), std::move(factory), options);
}

Result<Pid> Node::spawn(std::unique_ptr<Router> router, SpawnOptions options) {
  return rt_->spawn(std::move(router), std::move(options), detail::Shard::current_actor());
}

Result<Pid> Node::spawn_kind(std::string_view kind, std::string name, Pid writer) {
  detail::KindRef k = rt_->kind(kind);
  if (!k) return Status::not_found("unknown process kind " + std::string(kind));
  return rt_->spawn_kind(k, std::move(name), writer, false, detail::Shard::current_actor());
}

std::vector<KindInfo> Node::kinds() const {
  std::vector<KindInfo> out;
  for (const auto& k : rt_->kinds()) out.push_back({k->name, k->options.version, k->library_path, k->options.durable.enabled});
  return out;
}

Result<Pid> Node::new_actor(std::string name, Pid writer, std::unique_ptr<Router> router) {
  SpawnOptions o;
  o.name = std::move(name);
  o.writer = writer;
  return spawn(std::move(router), std::move(o));
}

Result<Pid> Node::ensure(std::string_view name, std::string_view kind, Pid writer) {
  return rt_->ensure(name, kind, writer);
}

Status Node::send(Pid to, uint32_t proto_id, Body body) {
  Actor* self = detail::Shard::current_actor();
  return rt_->send(self ? self->pid() : Pid(), to, Kind::kInfo, proto_id, std::move(body));
}

Status Node::send(std::string_view name, uint32_t proto_id, Body body) {
  Actor* self = detail::Shard::current_actor();
  return rt_->route_named(name, new Message(Pid(), self ? self->pid() : Pid(), Kind::kInfo, proto_id,
                                            std::move(body)));
}

Status Node::stop(Pid pid, std::string_view reason) {
  return rt_->send(Pid(), pid, Kind::kStop, 0, Body::bytes(std::string(reason)));
}

Status Node::stop(std::string_view name, std::string_view reason) {
  return rt_->route_named(name, new Message(Pid(), Pid(), Kind::kStop, 0, Body::bytes(std::string(reason))));
}

Status Node::exit(Pid pid, std::string_view reason) {
  return rt_->send(Pid(), pid, Kind::kExit, 0, Body::bytes(std::string(reason)));
}

std::optional<Pid> Node::whereis(std::string_view name) const { return rt_->names().lookup(name); }

NodeStats Node::stats() const { return rt_->stats(); }

}  // namespace behavior
