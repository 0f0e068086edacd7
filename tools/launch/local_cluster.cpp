// local_cluster.cpp — see local_cluster.h. Children are plain fork/exec with their output
// appended to <log dir>/<service>.log; each asks the kernel for SIGTERM if the launcher dies
// (PR_SET_PDEATHSIG) and sits in its own process group, so a Ctrl-C reaches the launcher
// only and the launcher stops them in order.
#include "local_cluster.h"

#include <algorithm>

#include <arpa/inet.h>
#include <behavior/crypto.h>
#include <behavior/game_client.h>
#include <behavior/tls.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <random>
#include <thread>

namespace behavior::tools {
namespace {

using Clock = std::chrono::steady_clock;

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

int connect_to(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on a fresh connection; the whole response (the server closes it).
std::string http_exchange(const std::string& ip, int port, const std::string& request) {
  int fd = connect_to(ip, port);
  if (fd < 0) return "";
  std::string out;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buf[16384];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;)
      out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// A port below the kernel's ephemeral range (ip_local_port_range), free for TCP and UDP right
// now. Not bind(0): that hands out ports of the ephemeral range, which outgoing connections
// of every other test take too, so a port released here could be gone by the time the server
// binds it (a flaky "address already in use" under parallel tests). Random picks among
// ~12k ports below the range make two concurrent tests' choices collide very rarely.
int LocalCluster::free_port() {
  static std::mt19937 rng(std::random_device{}());
  int low = 32768;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d", &low) != 1) low = 32768;
    std::fclose(f);
  }
  const int first = 20000, last = low - 1;
  for (int attempt = 0; last > first && attempt < 200; ++attempt) {
    int port = std::uniform_int_distribution<int>(first, last)(rng);
    bool ok = true;
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      int fd = ::socket(AF_INET, type, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port));
      ok = ok && fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      if (fd >= 0) ::close(fd);
    }
    if (ok) return port;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // no room below the range: let the kernel pick
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

LocalCluster::LocalCluster(LocalClusterOptions options) : o_(std::move(options)) {}

LocalCluster::~LocalCluster() { stop(); }

std::vector<std::string> LocalCluster::common_args() const {
  std::vector<std::string> a = {"--redis-prefix", prefix_,
                                "--heartbeat-ms", std::to_string(o_.heartbeat_ms),
                                "--ttl-ms",       std::to_string(o_.ttl_ms),
                                "--log-level",    o_.log_level};
  if (sentinels_.empty()) {
    a.insert(a.end(), {"--redis", redis_});
  } else {
    a.insert(a.end(), {"--redis-sentinels", sentinels_, "--redis-master-name", o_.redis_master_name});
  }
  if (!o_.redis_password.empty()) a.insert(a.end(), {"--redis-password", o_.redis_password});
  return a;
}

Status LocalCluster::start(int timeout_ms) {
  if (!services_.empty()) return Status::invalid_argument("already started");
  log_dir_ = o_.log_dir;
  if (log_dir_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/behavior-cluster-XXXXXX";
    if (!::mkdtemp(pattern.data()))
      return Status::internal("cannot make a temporary directory: " +
                              std::string(std::strerror(errno)));
    log_dir_ = pattern;
  } else if (::mkdir(log_dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::internal("cannot make " + log_dir_ + ": " + std::strerror(errno));
  }
  secret_ = o_.secret.empty() ? hex(random_bytes(16)) : o_.secret;
  admin_token_ = o_.admin_token.empty() ? hex(random_bytes(12)) : o_.admin_token;
  prefix_ = !o_.redis_prefix.empty() ? o_.redis_prefix
            : o_.redis.empty()       ? std::string("behavior:")  // our own Redis: the default
                                     : "behavior-" + hex(random_bytes(4)) + ":";
  ::setenv("BEHAVIOR_CLUSTER_SECRET", secret_.c_str(), 1);  // children inherit it; never in argv
  if (o_.tls) {
    if (Status s = make_tls_pair(); !s.ok()) return s;
  }

  if (o_.redis_ha) {
    if (Status s = start_redis_ha(); !s.ok()) return s;
  } else if (o_.redis.empty()) {
    if (Status s = start_redis(); !s.ok()) return s;
  } else {
    redis_ = o_.redis;
    if (Status s = check_redis(); !s.ok()) return s;
  }
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left = [&] {
    return static_cast<int>(std::max<int64_t>(
        1000,
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };

  for (int i = 1; i <= o_.local_servers; ++i) {
    Service s;
    s.info.name = "local_server-" + std::to_string(i);
    s.binary = o_.bin_dir + "/local_server";
    s.node_id = static_cast<uint16_t>(i);
    s.args = common_args();
    s.args.insert(s.args.end(),
                  {"--node-id", std::to_string(i), "--capacity", std::to_string(o_.capacity)});
    const std::vector<std::string> at = host_args(s.info.name, false, false);
    s.args.insert(s.args.end(), at.begin(), at.end());
    if (o_.kinds_libs.empty()) {
      s.args.insert(s.args.end(), {"--kinds-lib", o_.bin_dir + "/../lib/libbehavior_demo_game.so"});
    }
    for (const auto& lib : o_.kinds_libs) s.args.insert(s.args.end(), {"--kinds-lib", lib});
    s.args.insert(s.args.end(), o_.local_server_args.begin(), o_.local_server_args.end());
    if (auto own = o_.local_server_args_of.find(i); own != o_.local_server_args_of.end()) {
      s.args.insert(s.args.end(), own->second.begin(), own->second.end());
    }
    s.ready_line = "local_server ready";
    services_.push_back(std::move(s));
    if (Status st = launch(services_.back(), left()); !st.ok()) return st;
  }
  for (int i = 1; i <= o_.gateways; ++i) {
    GatewayPorts p;
    p.tcp = i == 1 && o_.gateway_tcp_port ? o_.gateway_tcp_port : free_port();
    p.ws = i == 1 && o_.gateway_ws_port ? o_.gateway_ws_port : free_port();
    p.udp = i == 1 && o_.gateway_udp_port ? o_.gateway_udp_port : free_port();
    gateway_ports_.push_back(p);
    Service s;
    s.info.name = "gateway-" + std::to_string(i);
    s.binary = o_.bin_dir + "/gateway";
    s.node_id = static_cast<uint16_t>(100 + i);
    s.args = common_args();
    s.args.insert(s.args.end(),
                  {"--node-id", std::to_string(s.node_id), "--tcp-port", std::to_string(p.tcp),
                   "--ws-port", std::to_string(p.ws), "--udp-port", std::to_string(p.udp)});
    const std::vector<std::string> at = host_args(s.info.name, true, false);
    s.args.insert(s.args.end(), at.begin(), at.end());
    // Every bot comes from 127.0.0.1: a thousand of them connecting at once are not a flood
    // from one address (unless the caller sets the limit itself).
    if (std::find(o_.gateway_args.begin(), o_.gateway_args.end(), "--max-unauth-per-address") == o_.gateway_args.end()) {
      s.args.insert(s.args.end(), {"--max-unauth-per-address", "1000000"});
    }
    if (o_.tls) s.args.insert(s.args.end(), {"--tls-cert", tls_cert(), "--tls-key", tls_key(), "--tls-tcp"});
    s.args.insert(s.args.end(), o_.gateway_args.begin(), o_.gateway_args.end());
    s.ready_line = "gateway ready";
    const std::string ip = ip_of(s.info.name);
    s.info.listens = (o_.tls ? "tcps " : "tcp ") + ip + ":" + std::to_string(p.tcp) +
                     (o_.tls ? "  wss wss://" : "  ws ws://") + ip + ":" + std::to_string(p.ws) + "  udp " + ip + ":" +
                     std::to_string(p.udp);
    services_.push_back(std::move(s));
    if (Status st = launch(services_.back(), left()); !st.ok()) return st;
  }
  for (int i = 1; i <= std::max(1, o_.name_servers); ++i) {
    const int port = i == 1 && o_.name_server_port ? o_.name_server_port : free_port();
    name_server_ports_.push_back(port);
    if (i == 1) name_server_port_ = port;
    Service s;
    s.info.name = i == 1 ? "name_server" : "name_server-" + std::to_string(i);
    s.binary = o_.bin_dir + "/name_server";
    s.node_id = static_cast<uint16_t>(199 + i);
    s.args = common_args();
    s.args.insert(s.args.end(), {"--node-id", std::to_string(s.node_id), "--http-port", std::to_string(port), "--auth",
                                 o_.auth, "--admin-token", admin_token_});
    const std::vector<std::string> at = host_args(s.info.name, false, true);
    s.args.insert(s.args.end(), at.begin(), at.end());
    if (o_.tls) s.args.insert(s.args.end(), {"--tls-cert", tls_cert(), "--tls-key", tls_key()});
    s.args.insert(s.args.end(), o_.name_server_args.begin(), o_.name_server_args.end());
    s.ready_line = "name_server ready";
    s.info.listens = name_server_url(i) + "  (dashboard /, game /play)";
    services_.push_back(std::move(s));
    if (Status st = launch(services_.back(), left()); !st.ok()) return st;
  }
  if (Status st = wait_for_nodes(left()); !st.ok()) return st;
  // Everything a tool needs to reach this cluster, the secret included: owner-only.
  std::string path = env_file();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return Status::internal("cannot write " + path + ": " + std::strerror(errno));
  std::string text;
  for (const std::string& e : env()) text += e + "\n";
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return written ? Status() : Status::internal("cannot write " + path);
}

// A Redis given with --redis must answer before anything starts: say so at once, rather than
// after every server has waited for it in vain.
Status LocalCluster::check_redis() const {
  const auto colon = redis_.rfind(':');
  const int port = colon == std::string::npos ? 0 : std::atoi(redis_.c_str() + colon + 1);
  if (colon == std::string::npos || port <= 0 || port > 65535) {
    return Status::invalid_argument("--redis " + redis_ + ": expected host:port");
  }
  const std::string host = redis_.substr(0, colon);
  const timeval wait{2, 0};
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, wait);
  if (!c || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return Status::unavailable("Redis at " + redis_ + " is unreachable: " + why);
  }
  redisSetTimeout(c, wait);
  std::string answer;
  auto* auth = o_.redis_password.empty()
                   ? nullptr
                   : static_cast<redisReply*>(redisCommand(c, "AUTH %s", o_.redis_password.c_str()));
  if (auth) freeReplyObject(auth);
  auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
  if (!r) {
    answer = c->errstr[0] ? c->errstr : "no answer";
  } else if (r->type == REDIS_REPLY_ERROR) {
    answer = std::string(r->str, r->len);
  }
  if (r) freeReplyObject(r);
  redisFree(c);
  if (!answer.empty()) return Status::unavailable("Redis at " + redis_ + " does not answer PING: " + answer);
  return {};
}

// A redis-server named `name` on `port`, its files in the log folder's `name`. Durable process
// state and accounts survive a Redis restart: an append-only file, fsynced every second
// (docs/durable.md). With replicas (redis_ha) a server shutting down waits up to
// shutdown-timeout (10 s) for them to catch up; on loopback one second is plenty.
LocalCluster::Service LocalCluster::redis_service(const std::string& name, int port) {
  std::string dir = log_dir_ + "/" + name;
  ::mkdir(dir.c_str(), 0755);
  Service s;
  s.info.name = name;
  s.binary = "redis-server";
  s.args = {"--port", std::to_string(port), "--bind", ip_of(name), "--dir", dir, "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec"};
  if (!o_.redis_password.empty()) s.args.insert(s.args.end(), {"--requirepass", o_.redis_password});
  if (o_.redis_ha) s.args.insert(s.args.end(), {"--shutdown-timeout", "1"});
  return s;
}

Status LocalCluster::start_redis() {
  own_redis_ = true;
  int port = free_port();
  redis_ = ip_of("redis") + ":" + std::to_string(port);
  Service s = redis_service("redis", port);
  s.ready_line = "Ready to accept connections";
  s.info.listens = "redis://" + redis_;
  services_.push_back(std::move(s));
  return launch(services_.back(), 10000);
}

Status LocalCluster::start_redis_ha() {
  if (Status s = start_redis(); !s.ok()) return s;
  const std::string primary_port = redis_.substr(redis_.rfind(':') + 1);
  {
    const int port = free_port();
    replica_ = ip_of("redis-replica") + ":" + std::to_string(port);
    Service s = redis_service("redis-replica", port);
    s.args.insert(s.args.end(), {"--replicaof", ip_of("redis"), primary_port});
    if (!o_.redis_password.empty()) s.args.insert(s.args.end(), {"--masterauth", o_.redis_password});
    s.ready_line = "MASTER <-> REPLICA sync: Finished with success";  // the first full sync
    s.info.listens = "redis://" + replica_ + " (replica)";
    services_.push_back(std::move(s));
    if (Status st = launch(services_.back(), 10000); !st.ok()) return st;
  }
  for (int i = 1; i <= 3; ++i) {
    const int port = free_port();
    std::string dir = log_dir_ + "/sentinel-" + std::to_string(i);
    ::mkdir(dir.c_str(), 0755);
    // Sentinel rewrites its configuration file (what it learns: replicas, other sentinels,
    // the current epoch), so each gets one of its own.
    const std::string& m = o_.redis_master_name;
    const std::string name = "sentinel-" + std::to_string(i);
    const std::string ip = ip_of(name);
    std::string conf = "port " + std::to_string(port) + "\nbind " + ip + "\ndir " + dir + "\n" +
                       "sentinel monitor " + m + " " + ip_of("redis") + " " + primary_port + " 2\n" +
                       "sentinel down-after-milliseconds " + m + " " + std::to_string(o_.sentinel_down_after_ms) +
                       "\n" + "sentinel failover-timeout " + m + " " +
                       std::to_string(o_.sentinel_failover_timeout_ms) + "\n" + "sentinel parallel-syncs " + m +
                       " 1\n";
    if (!o_.redis_password.empty()) conf += "sentinel auth-pass " + m + " " + o_.redis_password + "\n";
    const std::string path = dir + "/sentinel.conf";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return Status::internal("cannot write " + path + ": " + std::strerror(errno));
    const bool written = ::write(fd, conf.data(), conf.size()) == static_cast<ssize_t>(conf.size());
    ::close(fd);
    if (!written) return Status::internal("cannot write " + path);
    Service s;
    s.info.name = "sentinel-" + std::to_string(i);
    s.binary = "redis-server";  // redis-sentinel is the same program in sentinel mode
    s.args = {path, "--sentinel"};
    s.ready_line = "+monitor master " + m;
    s.info.listens = "sentinel " + ip + ":" + std::to_string(port);
    services_.push_back(std::move(s));
    if (Status st = launch(services_.back(), 10000); !st.ok()) return st;
    sentinels_ += (sentinels_.empty() ? "" : ",") + ip + ":" + std::to_string(port);
  }
  return wait_for_sentinels(20000);
}

Status LocalCluster::wait_for_sentinels(int timeout_ms) const {
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (Clock::now() < deadline) {
    size_t ready = 0;
    size_t from = 0;
    while (from < sentinels_.size()) {
      size_t comma = sentinels_.find(',', from);
      if (comma == std::string::npos) comma = sentinels_.size();
      const std::string addr = sentinels_.substr(from, comma - from);
      from = comma + 1;
      const timeval wait{1, 0};
      const std::string ip = addr.substr(0, addr.rfind(':'));
      redisContext* c = redisConnectWithTimeout(ip.c_str(), std::atoi(addr.c_str() + addr.rfind(':') + 1), wait);
      if (!c || c->err) {
        if (c) redisFree(c);
        continue;
      }
      redisSetTimeout(c, wait);
      auto* r = static_cast<redisReply*>(redisCommand(c, "SENTINEL master %s", o_.redis_master_name.c_str()));
      long replicas = -1, others = -1;
      if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t k = 0; k + 1 < r->elements; k += 2) {
          const std::string key(r->element[k]->str ? r->element[k]->str : "", r->element[k]->len);
          const char* v = r->element[k + 1]->str;
          if (key == "num-slaves" && v) replicas = std::atol(v);
          if (key == "num-other-sentinels" && v) others = std::atol(v);
        }
      }
      if (r) freeReplyObject(r);
      redisFree(c);
      last = addr + ": replicas " + std::to_string(replicas) + ", other sentinels " + std::to_string(others);
      if (replicas >= 1 && others >= 2) ++ready;
    }
    if (ready == 3) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::timeout("the sentinels do not see each other and the replica yet (" + last + ")");
}

Status LocalCluster::launch(Service& s, int timeout_ms) {
  s.info.log = log_dir_ + "/" + s.info.name + ".log";
  const size_t log_start = read_file(s.info.log).size();  // a restart appends to the same file
  s.host = host(s.info.name);
  std::vector<std::string> argv;
  // `ip netns exec` joins the namespace and execs the program: the pid is the server's.
  if (!s.host.netns.empty()) argv = {"ip", "netns", "exec", s.host.netns};
  argv.push_back(s.binary);
  argv.insert(argv.end(), s.args.begin(), s.args.end());
  pid_t pid = ::fork();
  if (pid < 0) return Status::internal("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    int fd = ::open(s.info.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  s.info.pid = pid;
  s.exit_status = -1;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    std::string log = read_file(s.info.log);
    if (log.find(s.ready_line, log_start) != std::string::npos) {
      if (s.info.listens.empty()) {  // a local server: its s2s port is chosen at start
        size_t at = log.find("s2s_port=", log_start);
        if (at != std::string::npos) {
          s.info.listens = "s2s " + s.host.ip + ":" +
                           log.substr(at + 9, log.find_first_not_of("0123456789", at + 9) - at - 9);
        }
      }
      return {};
    }
    if (reaped(s)) {
      return Status::unavailable(s.info.name + " exited while starting; see " + s.info.log + ":\n" +
                                 log.substr(log_start, 2000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::timeout(s.info.name + " did not print \"" + s.ready_line + "\" in time; see " +
                         s.info.log);
}

Status LocalCluster::wait_for_nodes(int timeout_ms) {
  const size_t expected = static_cast<size_t>(o_.local_servers + o_.gateways);
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (Clock::now() < deadline) {
    last = name_server_get("/v1/cluster");
    size_t locals = 0, gateways = 0;
    for (size_t at = 0; (at = last.find("\"kind\":\"", at)) != std::string::npos; ++at) {
      if (last.compare(at + 8, 6, "local\"") == 0) ++locals;
      if (last.compare(at + 8, 8, "gateway\"") == 0) ++gateways;
    }
    if (locals + gateways >= expected && locals >= static_cast<size_t>(o_.local_servers)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::timeout("the name server does not see every node yet: " + last);
}

Status LocalCluster::make_tls_pair() {
  const std::string dir = log_dir_ + "/tls";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::internal("cannot make " + dir + ": " + std::strerror(errno));
  }
  return write_self_signed_pair(tls_cert(), tls_key(), {"127.0.0.1", "localhost"});
}

std::string LocalCluster::name_server_url(int index) const {
  const std::string name = index == 1 ? "name_server" : "name_server-" + std::to_string(index);
  const int port = index >= 1 && static_cast<size_t>(index) <= name_server_ports_.size()
                       ? name_server_ports_[static_cast<size_t>(index - 1)]
                       : name_server_port_;
  return (o_.tls ? "https://" : "http://") + ip_of(name) + ":" + std::to_string(port);
}

std::string LocalCluster::name_server_urls() const {
  std::string out;
  for (size_t i = 1; i <= name_server_ports_.size(); ++i) {
    out += (out.empty() ? "" : ",") + name_server_url(static_cast<int>(i));
  }
  return out.empty() ? name_server_url(1) : out;
}

std::vector<std::string> LocalCluster::host_args(const std::string& service, bool gateway, bool name_server) const {
  if (!o_.host_of) return {};
  const std::string ip = ip_of(service);
  std::vector<std::string> a = {"--s2s-host", ip, "--metrics-host", ip};
  if (gateway) a.insert(a.end(), {"--listen-host", ip, "--public-host", ip});
  if (name_server) a.insert(a.end(), {"--http-host", ip});
  return a;
}

std::string LocalCluster::name_server_get(const std::string& path) const {
  const std::string ip = ip_of("name_server");
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + ip + "\r\nConnection: close\r\n\r\n";
  std::string r;
  if (o_.tls) {
    auto trust = TlsContext::client(tls_cert(), false);
    if (!trust.ok()) return "";
    Result<std::string> answer = behavior::http_exchange(ip, name_server_port_, request, Millis(5000), trust->get());
    if (answer.ok()) r = std::move(*answer);
  } else {
    r = http_exchange(ip, name_server_port_, request);
  }
  size_t body = r.find("\r\n\r\n");
  if (r.compare(0, 12, "HTTP/1.1 200") != 0 || body == std::string::npos) return "";
  return r.substr(body + 4);
}

bool LocalCluster::reaped(Service& s) {
  int status = 0;
  if (::waitpid(s.info.pid, &status, WNOHANG) != s.info.pid) return false;
  s.info.pid = -1;
  s.exit_status = status;
  return true;
}

std::string LocalCluster::describe_exit(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(WTERMSIG(status)));
  }
  return "wait status " + std::to_string(status);
}

std::vector<std::string> LocalCluster::reap_exited() {
  std::vector<std::string> reports;
  for (Service& s : services_) {
    if (s.info.pid <= 0 || !reaped(s)) continue;
    std::string log = log_text(s.info.name);
    size_t from = log.size() - (!log.empty() && log.back() == '\n' ? 1 : 0);  // the last 12 lines
    for (int lines = 0; lines < 12 && from != std::string::npos; ++lines) {
      from = from == 0 ? std::string::npos : log.rfind('\n', from - 1);
    }
    log.erase(0, from == std::string::npos ? 0 : from + 1);
    reports.push_back(s.info.name + " exited (" + describe_exit(s.exit_status) + ") while the cluster runs; the end of " +
                      s.info.log + ":\n" + log);
  }
  return reports;
}

bool LocalCluster::stop() {
  bool clean = true;
  // Servers first (name server, gateways, local servers: reverse start order), Redis last,
  // so each leaves the cluster through a working Redis.
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
    Service& s = *it;
    if (s.info.pid <= 0) continue;
    ::kill(s.info.pid, SIGCONT);  // a test may have stopped it
    ::kill(s.info.pid, SIGTERM);
    int status = -1;
    if (s.info.name.rfind("gateway", 0) == 0) {
      // A gateway drains on the first signal (its clients told to RECONNECT, up to its
      // --drain-timeout-ms); the cluster is going away as a whole, so after 3 s a second
      // signal ends the drain at once.
      status = wait_exit(s.info.name, 3000);
      if (status == -1) ::kill(s.info.pid, SIGTERM);
    }
    if (s.info.name.rfind("redis", 0) == 0) {
      // Redis refuses a SIGTERM while it writes its first append-only file (a replica right
      // after a sync: "Writing initial AOF, can't exit") and never looks at it again.
      for (int i = 0; i < 10 && status == -1; ++i) {
        status = wait_exit(s.info.name, 1000);
        if (status == -1) ::kill(s.info.pid, SIGTERM);
      }
    }
    if (status == -1) status = wait_exit(s.info.name, 10000);
    if (status == -1) {
      ::kill(s.info.pid, SIGKILL);
      ::waitpid(s.info.pid, &status, 0);
      s.info.pid = -1;
      clean = false;
      std::fprintf(stderr, "%s did not stop within 10 s: killed\n", s.info.name.c_str());
    } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && s.info.name.rfind("redis", 0) != 0 &&
               s.info.name.rfind("sentinel", 0) != 0) {
      clean = false;
      std::fprintf(stderr, "%s exited (%s); see %s\n", s.info.name.c_str(), describe_exit(status).c_str(),
                   s.info.log.c_str());
    }
  }
  return clean;
}

Status LocalCluster::signal(const std::string& service, int sig) {
  Service* s = find(service);
  if (!s) return Status::not_found("no service " + service);
  if (s->info.pid <= 0) return Status::unavailable(service + " is not running");
  if (::kill(s->info.pid, sig) != 0)
    return Status::internal("kill: " + std::string(std::strerror(errno)));
  return {};
}

int LocalCluster::wait_exit(const std::string& service, int timeout_ms) {
  Service* s = find(service);
  if (!s) return -1;
  if (s->info.pid <= 0) return s->exit_status;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    if (reaped(*s)) return s->exit_status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (Clock::now() < deadline);
  return -1;
}

Status LocalCluster::restart(const std::string& service, int timeout_ms) {
  Service* s = find(service);
  if (!s) return Status::not_found("no service " + service);
  if (s->info.pid > 0 && wait_exit(service, 0) == -1)
    return Status::already_exists(service + " is still running");
  return launch(*s, timeout_ms);
}

Status LocalCluster::add_local_server(uint16_t node_id, const std::string& binary, int timeout_ms) {
  const Service* model = nullptr;
  for (const Service& s : services_) {
    if (!model && s.info.name.starts_with("local_server-")) model = &s;
    if (s.node_id == node_id) return Status::already_exists("node id " + std::to_string(node_id) + " is " + s.info.name + "'s");
  }
  if (!model) return Status::invalid_argument("the cluster has no local server to copy the flags of");
  Service s;
  s.info.name = "local_server-" + std::to_string(node_id);
  if (find(s.info.name)) return Status::already_exists("there is a " + s.info.name + " already");
  s.binary = binary.empty() ? o_.bin_dir + "/local_server" : binary;
  s.node_id = node_id;
  s.args = model->args;
  for (size_t i = 0; i + 1 < s.args.size(); ++i) {
    if (s.args[i] == "--node-id") s.args[i + 1] = std::to_string(node_id);
    if (o_.host_of && (s.args[i] == "--s2s-host" || s.args[i] == "--metrics-host")) s.args[i + 1] = ip_of(s.info.name);
  }
  s.ready_line = model->ready_line;
  services_.push_back(std::move(s));
  Service& added = services_.back();
  Status st = launch(added, timeout_ms);
  if (!st.ok() && added.info.pid > 0) {  // never ready: it must not take players later
    ::kill(added.info.pid, SIGKILL);
    int status = 0;
    ::waitpid(added.info.pid, &status, 0);
    added.info.pid = -1;
    added.exit_status = status;
  }
  return st;
}

std::vector<std::string> LocalCluster::running_local_servers() const {
  std::vector<std::string> out;
  for (const Service& s : services_) {
    if (s.info.name.starts_with("local_server-") && s.info.pid > 0) out.push_back(s.info.name);
  }
  return out;
}

std::vector<ServiceInfo> LocalCluster::services() const {
  std::vector<ServiceInfo> out;
  for (const Service& s : services_) out.push_back(s.info);
  return out;
}

pid_t LocalCluster::pid(const std::string& service) const {
  const Service* s = find(service);
  return s ? s->info.pid : -1;
}

uint16_t LocalCluster::node_id(const std::string& service) const {
  const Service* s = find(service);
  return s ? s->node_id : 0;
}

std::string LocalCluster::log_text(const std::string& service) const {
  const Service* s = find(service);
  return s ? read_file(s->info.log) : "";
}

LocalCluster::GatewayPorts LocalCluster::gateway_ports(int index) const {
  if (index < 1 || static_cast<size_t>(index) > gateway_ports_.size()) return {};
  return gateway_ports_[static_cast<size_t>(index) - 1];
}

std::vector<std::string> LocalCluster::env() const {
  std::vector<std::string> e = {"BEHAVIOR_REDIS=" + redis_, "BEHAVIOR_REDIS_PREFIX=" + prefix_,
                                "BEHAVIOR_CLUSTER_SECRET=" + secret_,
                                "BEHAVIOR_NAME_SERVER=" + name_server_url(),
                                "BEHAVIOR_ADMIN_TOKEN=" + admin_token_};
  if (!sentinels_.empty()) {
    e.push_back("BEHAVIOR_REDIS_SENTINELS=" + sentinels_);
    e.push_back("BEHAVIOR_REDIS_MASTER_NAME=" + o_.redis_master_name);
  }
  if (o_.tls) e.push_back("BEHAVIOR_TLS_CA=" + tls_cert());  // bot and ctl trust the self-signed pair
  if (!o_.redis_password.empty()) e.push_back("BEHAVIOR_REDIS_PASSWORD=" + o_.redis_password);
  return e;
}

LocalCluster::Service* LocalCluster::find(const std::string& name) {
  for (Service& s : services_) {
    if (s.info.name == name) return &s;
  }
  return nullptr;
}

const LocalCluster::Service* LocalCluster::find(const std::string& name) const {
  for (const Service& s : services_) {
    if (s.info.name == name) return &s;
  }
  return nullptr;
}

}  // namespace behavior::tools
