// bench_process.h — what the cluster benchmarks share: start a program as a child process
// (its stdout to /dev/null, or stdout and stderr to a file), and find a free port on 127.0.0.1.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace behavior::bench {

inline pid_t spawn_process(const std::vector<std::string>& argv, const std::string& stdout_path = "/dev/null") {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    if (stdout_path != "/dev/null") dup2(out, 2);  // a log file takes both
    execv(a[0], a.data());
    _exit(127);
  }
  return pid;
}

inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// The directory of this executable (to find the other binaries next to it).
inline std::string self_dir() {
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path(self, len > 0 ? static_cast<size_t>(len) : 0);
  return path.substr(0, path.rfind('/'));
}

}  // namespace behavior::bench
