// crash_report_test.cpp — install_crash_report (logging.h): a process that dies of a fatal
// signal says which on stderr, with its stack, and still dies of that signal (the exit status
// a supervisor or a test reads is unchanged). In a child process, forked.
#include <behavior/logging.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace {

TEST(CrashReport, AFatalSignalPrintsTheStackAndStillEndsTheProcessWithIt) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], STDERR_FILENO);
    ::close(out[0]);
    if (!behavior::install_crash_report()) ::_exit(77);  // a sanitizer build
    ::raise(SIGSEGV);
    ::_exit(0);
  }
  ::close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) GTEST_SKIP() << "a sanitizer build keeps its own report";
  ASSERT_TRUE(WIFSIGNALED(status)) << text;
  EXPECT_EQ(WTERMSIG(status), SIGSEGV) << text;
  EXPECT_NE(text.find("fatal signal 11 (SEGV)"), std::string::npos) << text;
  EXPECT_NE(text.find("unit_tests"), std::string::npos) << "no frame of the binary in the stack:\n" << text;
}

}  // namespace
