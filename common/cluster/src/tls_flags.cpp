// tls_flags.cpp — see tls_flags.h. SIGHUP is taken with sigwait on the main thread, like
// SIGINT and SIGTERM: the reload runs there, and TlsContext swaps its pair under a lock, so
// the loops that accept connections are never interrupted.
#include "behavior/tls_flags.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

namespace behavior {

void add_tls_flags(CLI::App& app, TlsFlags& flags, const std::string& what) {
  app.add_option("--tls-cert", flags.cert, "PEM certificate chain: serve " + what + " over TLS (with --tls-key; SIGHUP rereads)")
      ->envname("BEHAVIOR_TLS_CERT");
  app.add_option("--tls-key", flags.key, "PEM private key of --tls-cert")->envname("BEHAVIOR_TLS_KEY");
}

Result<std::shared_ptr<TlsContext>> load_tls(const TlsFlags& flags) {
  if (!flags.enabled()) return std::shared_ptr<TlsContext>();
  if (flags.cert.empty() || flags.key.empty()) {
    return Status::invalid_argument("TLS needs both --tls-cert and --tls-key");
  }
  return TlsContext::server(flags.cert, flags.key);
}

void block_hangup_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// The signals Node::wait_for_signal waits for, plus SIGHUP.
int wait_for_signal_reloading(const std::shared_ptr<TlsContext>& tls) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGHUP) return sig;
    if (!tls) {
      spdlog::info("SIGHUP: no TLS certificate to reload");
      continue;
    }
    if (Status s = tls->reload(); s.ok()) {
      spdlog::info("SIGHUP: TLS certificate {} and key {} reloaded; new connections use them", tls->cert_file(),
                   tls->key_file());
    } else {
      spdlog::error("SIGHUP: TLS reload failed, the previous certificate stays in use: {}", s.to_string());
    }
  }
}

}  // namespace behavior
