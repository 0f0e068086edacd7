// name_registry.h — the model center: name → pid for this node, safe from every thread.
// Striped locks keep registrations from different workers from contending.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "behavior/pid.h"

namespace behavior::detail {

class NameRegistry {
 public:
  // Registers name → pid unless taken; returns the current owner either way.
  Pid try_register(std::string_view name, Pid pid);
  std::optional<Pid> lookup(std::string_view name) const;
  // Removes the name only if it still belongs to `pid`.
  void unregister(std::string_view name, Pid pid);
  size_t size() const;

 private:
  struct Stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, Pid> names;
  };
  Stripe& stripe(std::string_view name) const;
  mutable std::array<Stripe, 32> stripes_;
};

}  // namespace behavior::detail
