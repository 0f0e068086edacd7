// kinds_host.cpp — KindsHost (kinds_library.h): the libraries a node runs and their reload.
// A reload stages the new library's registrations beside the live kinds table
// (Runtime::begin_staging), validates them against what they replace, installs them (new
// activations use them at once), then has HotUpdate move the live processes. A failed
// upgrade rolls the whole reload back, so a node never ends up half on a library that some
// of its processes cannot run.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "behavior/kinds_library.h"
#include "hot_update.h"
#include "runtime.h"

namespace behavior {
namespace {

// Runs `lib`'s registration into a staging table, so that each entry holds the library its
// code lives in and the live kinds table stays untouched; the entries go to *entries.
Status register_staged(detail::Runtime& rt, const std::shared_ptr<KindsLibrary>& lib, const std::string& path,
                       KindsContext& ctx, std::vector<detail::KindRef>* entries) {
  rt.begin_staging(lib, path);
  Status s = call_register_kinds(lib->stamp().register_kinds, ctx, "kinds library " + path);
  *entries = rt.end_staging();
  return s;
}

}  // namespace

std::string ReloadReport::to_json() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(status.ok());
  if (!status.ok()) {
    w.Key("error");
    w.String(status.message().c_str());
  }
  w.Key("library");
  w.String(library.c_str());
  w.Key("name");
  w.String(name.c_str());
  w.Key("replaced");
  w.String(replaced.c_str());
  w.Key("kinds");
  w.StartArray();
  for (const auto& k : kinds) {
    w.StartObject();
    w.Key("kind");
    w.String(k.name.c_str());
    w.Key("version");
    w.Uint(k.version);
    w.EndObject();
  }
  w.EndArray();
  w.Key("upgraded");
  w.Uint64(upgraded);
  w.Key("failed");
  w.Uint64(failed);
  w.Key("busy");
  w.Uint64(busy);
  w.Key("rolled_back");
  w.Bool(rolled_back);
  w.Key("restored");
  w.Uint64(restored);
  w.Key("seconds");
  w.Double(seconds);
  w.Key("longest_slice_ms");
  w.Double(longest_slice_ms);
  w.Key("errors");
  w.StartArray();
  for (const auto& e : errors) w.String(e.c_str());
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

KindsHost::KindsHost(Node& node, std::map<std::string, std::string> options) : node_(node), options_(std::move(options)) {}

KindsHost::~KindsHost() { join(); }

void KindsHost::join() {
  std::thread last;
  {
    std::lock_guard lock(thread_mu_);
    closed_ = true;
    last = std::move(worker_);
  }
  if (last.joinable()) last.join();
}

Status KindsHost::register_builtin(RegisterKindsFn fn, const std::string& who,
                                   std::vector<std::function<Status(Node&)>>* started) {
  KindsContext ctx{node_, options_, nullptr};
  if (Status s = call_register_kinds(fn, ctx, who); !s.ok()) return s;
  if (ctx.on_started && started) started->push_back(std::move(ctx.on_started));
  return {};
}

Status KindsHost::load(const std::vector<std::string>& paths, std::vector<std::function<Status(Node&)>>* started) {
  detail::Runtime& rt = detail::runtime_of(node_);
  for (const auto& path : paths) {
    if (path.empty()) continue;  // an empty BEHAVIOR_KINDS_LIB
    auto lib = KindsLibrary::load(path);
    if (!lib.ok()) return lib.status();
    KindsContext ctx{node_, options_, nullptr};
    std::vector<detail::KindRef> entries;
    if (Status s = register_staged(rt, *lib, path, ctx, &entries); !s.ok()) return s;
    rt.install_kinds(entries);
    if (ctx.on_started && started) started->push_back(std::move(ctx.on_started));
    spdlog::info("kinds library {} ({}) loaded: {} kinds", (*lib)->name(), path, entries.size());
    std::lock_guard lock(mu_);
    loaded_.push_back(std::move(*lib));
  }
  return {};
}

std::vector<std::string> KindsHost::libraries() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& l : loaded_) out.push_back(l->path());
  return out;
}

ReloadReport KindsHost::reload(const std::string& path, Millis timeout) {
  std::unique_lock lock(reload_mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    ReloadReport r;
    r.library = path;
    r.status = Status::unavailable("a reload is already in progress on this node");
    return r;
  }
  return reload_locked(path, timeout);
}

void KindsHost::reload_async(std::string path, std::function<void(ReloadReport)> done) {
  auto refused = [&](Status why) {
    ReloadReport r;
    r.library = path;
    r.status = std::move(why);
    done(std::move(r));
  };
  std::unique_lock busy(reload_mu_, std::try_to_lock);
  if (!busy.owns_lock()) return refused(Status::unavailable("a reload is already in progress on this node"));
  std::thread previous;  // has finished: it let go of reload_mu_
  {
    std::lock_guard lock(thread_mu_);
    if (closed_) return refused(Status::shutdown("the node is stopping"));
    previous = std::move(worker_);
    worker_ = std::thread([this, path = std::move(path), done = std::move(done)] {
      std::lock_guard held(reload_mu_);
      done(reload_locked(path, Millis(30000)));
    });
  }
  busy.unlock();
  if (previous.joinable()) previous.join();
}

Status KindsHost::probe(const std::vector<std::string>& paths) {
  Node scratch(NodeOptions{});  // never started: registrations only
  KindsHost host(scratch, {});
  return host.load(paths, nullptr);
}

// Runs the probe with a deadline and reads what it says. Its exit code 0: the libraries load
// together; anything else, or a signal, is the refusal's reason.
Status KindsHost::run_probe(const std::string& path) const {
  constexpr auto kDeadline = std::chrono::seconds(20);
  std::vector<std::string> args{probe_exe_, "--kinds-probe"};
  for (const auto& l : libraries()) args.push_back(l);
  args.push_back(path);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::internal(std::string("probe: pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, probe_exe_.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return Status::internal("probe: cannot run " + probe_exe_ + ": " + std::strerror(rc));
  }
  std::string said;
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // the probe is done
    if (said.size() < 64 * 1024) said.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  // Its output ended (it closed it, exiting) or the deadline passed: it exits, or is killed.
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (done != pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return Status::timeout("probe: loading it did not finish within 20 s");
  }
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  if (said.size() > 600) said = "..." + said.substr(said.size() - 600);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFSIGNALED(status)) {
    return Status::internal("loading it beside the running libraries killed a test process (signal " +
                            std::to_string(WTERMSIG(status)) + "): " + said +
                            " (protobuf messages compiled into two libraries do this: docs/hot_update.md)");
  }
  return Status::invalid_argument(said.empty() ? "the probe failed" : said);
}

ReloadReport KindsHost::reload_locked(const std::string& path, Millis timeout) {
  detail::Runtime& rt = detail::runtime_of(node_);
  ReloadReport r;
  r.library = path;
  auto refuse = [&](Status s) {
    r.status = Status(s.code(), "reload of " + path + " refused, the node runs its old code: " + s.message());
    spdlog::error("{}", r.status.message());
    return r;
  };
  std::shared_ptr<KindsLibrary> old;
  {
    std::lock_guard lock(mu_);
    for (const auto& l : loaded_) {
      if (l->path() == path) {
        return refuse(Status::already_exists("a library loaded from this path is running: give the new build a "
                                             "path of its own (say libgame-v2.so)"));
      }
    }
  }
  // First in a child process: what would abort or crash the server there only kills the probe.
  if (!probe_exe_.empty()) {
    if (Status s = run_probe(path); !s.ok()) return refuse(s);
  }
  auto loaded = KindsLibrary::load(path);
  if (!loaded.ok()) return refuse(loaded.status());
  std::shared_ptr<KindsLibrary> lib = std::move(*loaded);
  r.name = lib->name();
  {
    std::lock_guard lock(mu_);
    for (const auto& l : loaded_) {
      if (&l->stamp() == &lib->stamp()) {
        return refuse(Status::already_exists("it is the same file as the running " + l->path()));
      }
      if (l->name() == lib->name()) old = l;
    }
  }
  // The live kinds are untouched until everything checks out.
  KindsContext ctx{node_, options_, nullptr};
  std::vector<detail::KindRef> entries;
  if (Status s = register_staged(rt, lib, path, ctx, &entries); !s.ok()) return refuse(s);
  if (entries.empty()) return refuse(Status::invalid_argument("it registers no kinds"));
  std::vector<detail::KindRef> previous;  // the entries it replaces, to roll back to
  std::vector<std::string> added;         // kinds nobody had
  std::set<std::string> names;
  for (const auto& e : entries) {
    names.insert(e->name);
    r.kinds.push_back({e->name, e->options.version, path, e->options.durable.enabled});
    detail::KindRef current = rt.kind(e->name);
    if (!current) {
      added.push_back(e->name);
      continue;
    }
    if (!old || current->library != std::static_pointer_cast<const void>(old)) {
      return refuse(Status::invalid_argument("kind " + e->name + " comes from " +
                                             (current->library_path.empty() ? "the binary" : current->library_path) +
                                             ", not from a library named \"" + lib->name() + "\""));
    }
    if (current->options.durable.enabled != e->options.durable.enabled) {
      return refuse(Status::invalid_argument("kind " + e->name + " would " +
                                             (e->options.durable.enabled ? "become durable" : "stop being durable") +
                                             ": a reload cannot change that (roll the nodes instead)"));
    }
    previous.push_back(std::move(current));
  }
  if (old) {
    r.replaced = old->path();
    for (const auto& k : rt.kinds()) {
      if (k->library == std::static_pointer_cast<const void>(old) && !names.count(k->name)) {
        return refuse(Status::invalid_argument("it has no kind " + k->name + ", which " + old->path() + " has"));
      }
    }
  }
  // New activations run the new code from here on; then the live processes move.
  rt.install_kinds(entries);
  detail::UpgradeReport up = detail::HotUpdate::upgrade(rt, entries, timeout);
  r.upgraded = up.upgraded;
  r.failed = up.failed;
  r.busy = up.busy;
  r.errors = up.errors;
  r.longest_slice_ms = up.longest_slice_ns / 1e6;
  r.seconds = up.elapsed_ns / 1e9;
  if (up.failed > 0) {
    // All or nothing: the old kinds come back, and the processes that moved move back.
    for (const auto& name : added) rt.remove_kind(name, entries);
    rt.install_kinds(previous);
    detail::UpgradeReport back = detail::HotUpdate::upgrade(rt, previous, timeout);
    r.rolled_back = true;
    r.restored = back.upgraded;
    r.seconds += back.elapsed_ns / 1e9;
    for (auto& e : back.errors) r.errors.push_back("rolling back: " + e);
    r.status = Status::internal("reload of " + path + " rolled back: " + std::to_string(up.failed) +
                               " processes could not be upgraded (" + up.errors.front() + "); " +
                               std::to_string(back.upgraded) + " moved back to " +
                               (old ? old->path() : std::string("the previous code")) + ", the node runs its old code");
    spdlog::error("{}", r.status.message());
    return r;
  }
  {
    std::lock_guard lock(mu_);
    if (old) std::erase(loaded_, old);
    loaded_.push_back(lib);
  }
  spdlog::info("kinds library {} ({}) reloaded{}: {} processes upgraded in {:.3f} s (longest pause {:.2f} ms){}",
               lib->name(), path, old ? " over " + old->path() : std::string(), up.upgraded, r.seconds,
               r.longest_slice_ms, up.busy ? ", " + std::to_string(up.busy) + " still mid-handler keep the old code" : "");
  return r;
}

}  // namespace behavior
