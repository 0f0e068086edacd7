// durable.h — a process whose state outlives it: Durable<State> keeps a protobuf message as
// the process's state, saved to the cluster's store (Redis) and loaded before on_start on
// every activation: after idle expiry, a crash, its node's death, a migration.
//
//   struct Player : behavior::Durable<game::PlayerState> {
//     Task<> route(Message& m) override {
//       mutable_state().set_score(state().score() + 1);   // marks the state dirty
//       if (Status s = co_await actor().save(); s.ok()) actor().send_to_client(...);  // durable now
//     }
//   };
//   node.register_kind<Player>("user", KindOptions{.durable = {.enabled = true}});
//
// A router that keeps its state some other way overrides Router::save_state/load_state and
// calls actor().mark_dirty() itself. docs/durable.md: write modes, fencing, what each
// failure loses.
#pragma once

#include <string>
#include <string_view>

#include "behavior/actor.h"
#include "behavior/router.h"
#include "behavior/status.h"

namespace behavior {

template <class State>
class Durable : public Router {
 public:
  const State& state() const { return state_; }
  // The state to change: marks it dirty, so the next interval or passivation save writes it.
  State& mutable_state() {
    actor().mark_dirty();
    return state_;
  }

  std::string save_state() override { return state_.SerializeAsString(); }
  Status load_state(std::string_view bytes, uint32_t version) override {
    State loaded;
    if (!loaded.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Status::invalid_argument("the stored state (" + std::to_string(bytes.size()) + " bytes, version " +
                                      std::to_string(version) + ") is not a valid " + loaded.GetTypeName());
    }
    state_ = std::move(loaded);
    return {};
  }

 private:
  State state_;
};

}  // namespace behavior
