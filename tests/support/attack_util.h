// attack_util.h — what the security tests measure on a server under attack: its resident
// memory and open descriptors (from /proc), and a flood of idle connections from one
// loopback address with how many of them the server still holds.
#pragma once

#include <dirent.h>
#include <poll.h>
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "net_util.h"

namespace behavior::testing {

// Resident memory of a process in MiB (VmRSS), or -1.
inline double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

// Descriptors a process holds open.
inline int open_fds(pid_t pid) {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.' ? 1 : 0;
    ::closedir(d);
  }
  return n;
}

// Opens `n` connections from `from` (a loopback address) that send nothing.
inline std::vector<int> open_idle(int port, const std::string& from, int n) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = tcp_connect(port, from);
    if (fd >= 0) fds.push_back(fd);
  }
  return fds;
}

// How many of `fds` the server still holds open (nothing to read: no EOF, no reset). For
// servers that speak first, read what they sent before asking.
inline int still_open(const std::vector<int>& fds) {
  int open = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) ++open;
  }
  return open;
}

inline void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

}  // namespace behavior::testing
