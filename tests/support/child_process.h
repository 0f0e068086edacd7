// child_process.h — runs one of our binaries as a real OS process for integration tests:
// captures its output (stdout and stderr merged), waits for a line with a deadline, sends
// signals, and reaps it (killing it if a test forgets).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace behavior::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts `path` with `args`; `env` entries ("K=V") are added to the environment.
  bool start(const std::string& path, const std::vector<std::string>& args,
             const std::vector<std::string>& env = {});
  // True once a line containing `needle` was printed (waits up to `timeout`).
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout);
  std::string output();
  void signal(int sig);
  // After SIGSTOP: waits until the kernel reports the process stopped ('T' in /proc).
  bool wait_stopped(std::chrono::milliseconds timeout);
  // The exit status (as from waitpid), or -1 if it did not exit within `timeout`.
  int wait_exit(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  void reader();
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::thread reader_;
  std::mutex mu_;
  std::string output_;
};

}  // namespace behavior::testing
