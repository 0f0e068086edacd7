// crash_report.cpp — see logging.h (install_crash_report). Why: a server that dies of a
// fatal signal in a test or in production left nothing but "killed by SIGSEGV", and a crash
// seen once in a chaos run could not be traced. Now its stack is in its log, where the
// launcher and the tests already show the last lines of a service that exited. Only what is
// safe in a signal handler runs there: write(2), glibc's backtrace (its unwinder loaded once
// up front, so it does not allocate in the handler), then the signal again with its default
// action, so the process still ends as it would have (the exit status and any core dump).
#include "behavior/logging.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>

namespace behavior {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)

bool install_crash_report() { return false; }  // the sanitizer's own report is better

#else

namespace {

void write_text(const char* s) {
  size_t left = strlen(s);
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, s, left);
    if (n <= 0) return;
    s += n;
    left -= static_cast<size_t>(n);
  }
}

void on_fatal_signal(int sig, siginfo_t* info, void*) {
  char line[160];
  // snprintf of integers does not allocate; glibc's is not formally async-signal-safe, but the
  // process is ending either way and this line is what the report is for.
  std::snprintf(line, sizeof line, "\nfatal signal %d (%s) at address %p; the stack (addr2line -e <binary> -f -C <offset>):\n",
                sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", info ? info->si_addr : nullptr);
  write_text(line);
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  ::raise(sig);  // SA_RESETHAND: the default action now
}

}  // namespace

bool install_crash_report() {
  void* warm[1];
  (void)::backtrace(warm, 1);  // loads the unwinder now, not in the handler
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  bool ok = true;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ok &= ::sigaction(sig, &sa, nullptr) == 0;
  return ok;
}

#endif

}  // namespace behavior
