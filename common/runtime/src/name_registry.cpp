// name_registry.cpp — see name_registry.h.
#include "name_registry.h"

#include <functional>

namespace behavior::detail {

NameRegistry::Stripe& NameRegistry::stripe(std::string_view name) const {
  return stripes_[std::hash<std::string_view>{}(name) % stripes_.size()];
}

Pid NameRegistry::try_register(std::string_view name, Pid pid) {
  Stripe& s = stripe(name);
  std::lock_guard lock(s.mu);
  auto [it, inserted] = s.names.try_emplace(std::string(name), pid);
  return it->second;
}

std::optional<Pid> NameRegistry::lookup(std::string_view name) const {
  Stripe& s = stripe(name);
  std::lock_guard lock(s.mu);
  auto it = s.names.find(std::string(name));
  if (it == s.names.end()) return std::nullopt;
  return it->second;
}

void NameRegistry::unregister(std::string_view name, Pid pid) {
  Stripe& s = stripe(name);
  std::lock_guard lock(s.mu);
  auto it = s.names.find(std::string(name));
  if (it != s.names.end() && it->second == pid) s.names.erase(it);
}

size_t NameRegistry::size() const {
  size_t n = 0;
  for (auto& s : stripes_) {
    std::lock_guard lock(s.mu);
    n += s.names.size();
  }
  return n;
}

}  // namespace behavior::detail
