// tls_flags.h — what a server binary needs to serve TLS: the --tls-cert/--tls-key flags
// (also BEHAVIOR_TLS_CERT/BEHAVIOR_TLS_KEY, and tls-cert/tls-key in the --config file), the
// context they load, and SIGHUP: the signal that makes a server reread its certificate
// and key (a renewed certificate without a restart) while it waits for SIGINT/SIGTERM.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

#include "behavior/status.h"
#include "behavior/tls.h"

namespace behavior {

struct TlsFlags {
  std::string cert;  // PEM certificate chain
  std::string key;   // PEM private key
  bool enabled() const { return !cert.empty() || !key.empty(); }
};

// --tls-cert and --tls-key; `what` says what they secure ("the HTTP API").
void add_tls_flags(CLI::App& app, TlsFlags& flags, const std::string& what);

// The server context for the flags: nullptr when TLS is off; an error when only one of
// the two files is given or a file cannot be used (the file is named).
Result<std::shared_ptr<TlsContext>> load_tls(const TlsFlags& flags);

// Call first in main(), with Node::block_termination_signals(): SIGHUP stays pending for
// wait_for_signal_reloading() (instead of ending the process) in every thread started later.
void block_hangup_signal();

// Like Node::wait_for_signal(), and on each SIGHUP meanwhile reloads `tls` (if any): logs
// the new pair, or the error and that the old pair stays in use. Returns SIGINT or SIGTERM.
int wait_for_signal_reloading(const std::shared_ptr<TlsContext>& tls);

}  // namespace behavior
