// router.h — the user's code for one process: route() handles each message (the seed's
// HandlerInfo), on_start/on_stop bracket its life (HandlerStop). One instance per process,
// so its members are the process's private state.
#pragma once

#include <string_view>
#include <utility>

#include "behavior/body.h"
#include "behavior/message.h"
#include "behavior/pid.h"
#include "behavior/status.h"
#include "behavior/task.h"

namespace behavior {

class Actor;

class Router {
 public:
  virtual ~Router() = default;

  // Runs once, in the process, before its first message.
  virtual void on_start() {}
  // Handles one message; the process takes the next one only when this task finishes.
  virtual Task<> route(Message& m) = 0;
  // Runs once when the process ends, for any reason (normal, shutdown, idle, crash, kill).
  virtual void on_stop(std::string_view reason) { (void)reason; }
  // A client connection became this process's writer (the gateway's kAttach; a previous
  // connection has been kicked), or the writer's client went away (kDetach). The writer is
  // already updated when these run.
  virtual void on_client_attached(Pid connection) { (void)connection; }
  virtual void on_client_detached(Pid connection) { (void)connection; }

  // Durable kinds (KindOptions::durable, docs/durable.md). save_state returns the bytes to
  // store (protobuf, JSON: the router's choice); load_state restores them, before on_start,
  // when the store has a saved state for this name. `version` is the KindOptions::version
  // of the code that saved them. An error (or exception) from load_state stops the
  // activation: the process does not start and nothing is overwritten.
  virtual std::string save_state() { return {}; }
  virtual Status load_state(std::string_view bytes, uint32_t version) {
    (void)bytes;
    (void)version;
    return {};
  }
  // State saved by another version of the kind (Erlang's code_change): at activation, when
  // the store holds bytes of an older (or newer) version, and in a hot update, when this
  // instance replaces a live process's code (docs/hot_update.md: save_state of the old
  // instance, then this, instead of on_start). The default hands the bytes to load_state.
  // An error or exception: the activation does not start, or the live process keeps its old
  // code; either way nothing is overwritten.
  virtual Status upgrade_state(uint32_t from_version, Body old_state) {
    return load_state(old_state.raw(), from_version);
  }

  Actor& actor() { return *actor_; }
  // Binds this router to its process; the runtime calls it at spawn.
  void attach(Actor* actor) { actor_ = actor; }

 private:
  Actor* actor_ = nullptr;
};

// A router from a callable `Task<>(Actor&, Message&)`; the callable (and what it captures)
// lives as long as the process.
template <class F>
class FnRouter final : public Router {
 public:
  explicit FnRouter(F f) : f_(std::move(f)) {}
  Task<> route(Message& m) override { return f_(actor(), m); }

 private:
  F f_;
};

}  // namespace behavior
