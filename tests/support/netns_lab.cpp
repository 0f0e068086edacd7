// netns_lab.cpp — see netns_lab.h. Commands go through posix_spawn of iproute2 and iptables
// (never a shell); a failing command's output comes back in the Status.
#include "netns_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <thread>

extern char** environ;

namespace behavior::testing {
namespace {

constexpr const char* kIp = "/usr/sbin/ip";
constexpr const char* kIptables = "/usr/sbin/iptables";

// Runs argv, returns its exit status and what it printed (stdout and stderr).
int spawn_and_wait(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) output->append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

NetnsLab::NetnsLab() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "bl%05x", rd() & 0xFFFFF);  // short: veth names are <= 15 chars
  tag_ = buf;
}

NetnsLab::~NetnsLab() {
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    if (Status s = run({kIp, "netns", "del", *it}); !s.ok()) std::fprintf(stderr, "netns lab: %s\n", s.to_string().c_str());
  }
}

bool NetnsLab::available(std::string* why) {
  if (::geteuid() != 0) {
    *why = "network namespaces need root";
    return false;
  }
  for (const char* tool : {kIp, kIptables}) {
    if (::access(tool, X_OK) != 0) {
      *why = std::string(tool) + " is missing (tools/install_deps.sh installs iproute2 and iptables)";
      return false;
    }
  }
  return true;
}

Status NetnsLab::run(const std::vector<std::string>& argv) const {
  std::string out;
  int rc = spawn_and_wait(argv, &out);
  if (rc == 0) return {};
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  return Status::internal("`" + cmd + "` failed (" + std::to_string(rc) + "): " + out);
}

Status NetnsLab::add_host(const std::string& name, const std::string& ip) {
  if (namespaces_.empty()) {  // the hub and its bridge come with the first host
    const std::string hub = ns("hub");
    if (Status s = run({kIp, "netns", "add", hub}); !s.ok()) return s;
    namespaces_.push_back(hub);
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{kIp, "-n", hub, "link", "add", "br0", "type", "bridge"},
          std::vector<std::string>{kIp, "-n", hub, "link", "set", "br0", "up"}}) {
      if (Status s = run(cmd); !s.ok()) return s;
    }
  }
  const std::string host = ns(name);
  if (Status s = run({kIp, "netns", "add", host}); !s.ok()) return s;
  namespaces_.push_back(host);
  const std::string veth = "v" + std::to_string(++veths_);
  for (const std::vector<std::string>& cmd : {
           std::vector<std::string>{kIp, "-n", ns("hub"), "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                                    "netns", host},
           std::vector<std::string>{kIp, "-n", ns("hub"), "link", "set", veth, "master", "br0", "up"},
           std::vector<std::string>{kIp, "-n", host, "addr", "add", ip + "/24", "dev", "eth0"},
           std::vector<std::string>{kIp, "-n", host, "link", "set", "eth0", "up"},
           std::vector<std::string>{kIp, "-n", host, "link", "set", "lo", "up"},
       }) {
    if (Status s = run(cmd); !s.ok()) return s;
  }
  return {};
}

std::vector<std::string> NetnsLab::exec_args(const std::string& host) const {
  return {kIp, "netns", "exec", ns(host)};
}

Status NetnsLab::in(const std::string& host, const std::function<void()>& fn) const {
  const std::string path = "/var/run/netns/" + ns(host);
  Status result;
  std::thread t([&] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      result = Status::internal("cannot enter " + path);
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    fn();
  });
  t.join();
  return result;
}

Status NetnsLab::cut(const std::string& a, const std::string& b_ip) {
  const std::string host = ns(a);
  if (Status s = run({kIp, "netns", "exec", host, kIptables, "-A", "INPUT", "-s", b_ip, "-j", "DROP"}); !s.ok()) {
    return s;
  }
  return run({kIp, "netns", "exec", host, kIptables, "-A", "OUTPUT", "-d", b_ip, "-j", "DROP"});
}

Status NetnsLab::isolate(const std::string& a) {
  const std::string host = ns(a);
  if (Status s = run({kIp, "netns", "exec", host, kIptables, "-A", "INPUT", "-i", "eth0", "-j", "DROP"}); !s.ok()) {
    return s;
  }
  return run({kIp, "netns", "exec", host, kIptables, "-A", "OUTPUT", "-o", "eth0", "-j", "DROP"});
}

Status NetnsLab::heal(const std::string& a) { return run({kIp, "netns", "exec", ns(a), kIptables, "-F"}); }

}  // namespace behavior::testing
