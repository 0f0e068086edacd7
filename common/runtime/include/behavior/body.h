// body.h — the payload of a message. Locally it moves a C++ object (no serialization);
// for the wire it becomes bytes, and `as<T>()` decodes bytes back once, so a handler reads
// a body the same way whether it came from this node or another.
#pragma once

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "behavior/status.h"

namespace behavior {

// Thrown by Body::as<T>() when the body does not hold (or decode to) a T. Escaping a
// handler it ends that process only, like any other exception.
class BadBody : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class T>
inline constexpr char kTypeTag = 0;
template <class T>
const void* type_tag() {
  return &kTypeTag<T>;
}
// A type with a wire form: protobuf messages, and any type with the same two members
// (JsonMap has them). Bodies of these types can travel to other nodes.
template <class T, class = void>
struct HasWireForm : std::false_type {};
template <class T>
struct HasWireForm<T, std::void_t<decltype(std::declval<const T&>().SerializeToString(
                                      std::declval<std::string*>())),
                                  decltype(std::declval<T&>().ParseFromString(
                                      std::declval<const std::string&>()))>> : std::true_type {};
template <class T>
inline constexpr bool kIsProto = HasWireForm<T>::value;
// Small trivially copyable values (ints, ids, small structs) live inline in the bytes'
// small-string buffer: no allocation.
template <class T>
inline constexpr bool kIsInline =
    std::is_trivially_copyable_v<T> && sizeof(T) <= 15 && !kIsProto<T>;
template <class T>
inline constexpr bool kIsStringLike =
    std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
    std::is_same_v<T, const char*> || std::is_same_v<T, char*>;
}  // namespace detail

class Body {
 public:
  Body() = default;
  // Moves copy only the short bytes in use; the moved-from Body is empty.
  Body(Body&& o) noexcept { *this = std::move(o); }
  Body& operator=(Body&& o) noexcept {
    if (this != &o) {
      bytes_ = std::move(o.bytes_);
      inline_type_ = o.inline_type_;
      box_ = std::move(o.box_);
      short_len_ = o.short_len_;
      std::memcpy(short_, o.short_, short_len_);
      o.short_len_ = 0;
    }
    return *this;
  }
  Body(const Body&) = delete;
  Body& operator=(const Body&) = delete;

  // Any value converts: strings become bytes, small trivially copyable values are stored
  // inline, everything else (protobuf messages, C++ objects) is moved into a box.
  template <class T, class D = std::decay_t<T>,
            class = std::enable_if_t<!std::is_same_v<D, Body>>>
  Body(T&& value) {  // NOLINT: implicit on purpose, `send(pid, kPing, 42)` reads well
    if constexpr (detail::kIsStringLike<D>) {
      bytes_ = std::string(std::string_view(value));
    } else if constexpr (detail::kIsInline<D>) {
      bytes_.assign(reinterpret_cast<const char*>(&value), sizeof(D));
      inline_type_ = detail::type_tag<D>();
    } else {
      box_ = std::make_unique<BoxOf<D>>(std::forward<T>(value));
    }
  }

  static Body bytes(std::string b) {
    Body body;
    body.bytes_ = std::move(b);
    return body;
  }
  // A copy of `b`. Up to kShortBytes live inside the Body itself, without an allocation:
  // the frames a gateway relays and the envelopes a node decodes are mostly this small, and
  // a malloc and a free for each of them were a sixth of the gateway's time in the echo
  // benchmark. Longer ones go to a string.
  static constexpr size_t kShortBytes = 79;  // sizeof(Body) = 128
  static Body copy_of(std::string_view b) {
    Body body;
    if (!b.empty() && b.size() <= kShortBytes) {
      std::memcpy(body.short_, b.data(), b.size());
      body.short_len_ = static_cast<uint8_t>(b.size());
    } else {
      body.bytes_.assign(b.data(), b.size());
    }
    return body;
  }

  bool empty() const { return !box_ && bytes_.empty() && short_len_ == 0; }
  bool boxed() const { return box_ != nullptr; }

  // True when the body holds exactly a T (not merely bytes that might decode to one).
  template <class T>
  bool is() const {
    if constexpr (detail::kIsInline<T>) return inline_type_ == detail::type_tag<T>();
    return box_ && box_->type() == detail::type_tag<T>();
  }

  // The value as a T: small values by copy, objects by reference. Bytes from the wire
  // decode once (protobuf parse, or a size-checked copy for small values).
  template <class T>
  decltype(auto) as() {
    if constexpr (detail::kIsInline<T>) {
      const std::string_view b = raw();
      if (box_ || (inline_type_ ? inline_type_ != detail::type_tag<T>() : b.size() != sizeof(T))) {
        throw BadBody(std::string("body is not a ") + typeid(T).name());
      }
      T out;
      std::memcpy(&out, b.data(), sizeof(T));
      return out;
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (box_) throw BadBody("body is an object, not bytes");
      return static_cast<std::string&>(bytes_as_string());
    } else {
      if (box_) {
        if (box_->type() != detail::type_tag<T>()) {
          throw BadBody(std::string("body is not a ") + typeid(T).name());
        }
        return static_cast<T&>(static_cast<BoxOf<T>*>(box_.get())->value);
      }
      if constexpr (detail::kIsProto<T>) {
        auto box = std::make_unique<BoxOf<T>>();
        bool parsed;
        if constexpr (requires(T& v, const char* p, int n) { v.ParseFromArray(p, n); }) {
          const std::string_view b = raw();
          parsed = box->value.ParseFromArray(b.data(), static_cast<int>(b.size()));
        } else {
          parsed = box->value.ParseFromString(bytes_as_string());
        }
        if (!parsed) {
          throw BadBody(std::string("bytes do not parse as ") + typeid(T).name());
        }
        T& ref = box->value;
        box_ = std::move(box);
        bytes_.clear();
        short_len_ = 0;
        return static_cast<T&>(ref);
      } else {
        throw BadBody(std::string("body is not a ") + typeid(T).name());
      }
    }
  }

  // The bytes (for inline values, their raw bytes); empty for boxed objects.
  std::string_view raw() const {
    return short_len_ ? std::string_view(reinterpret_cast<const char*>(short_), short_len_) : std::string_view(bytes_);
  }

  // The wire form: bytes as they are, boxed objects through their serializer (protobuf).
  // Fails for boxed types that have no wire form.
  Status serialize(std::string* out) const {
    if (!box_) {
      out->assign(raw());
      return {};
    }
    if (!box_->serialize(out)) return Status::invalid_argument("body type has no wire form");
    return {};
  }

 private:
  // The bytes as a string: short bytes move into one when a string is asked for.
  std::string& bytes_as_string() {
    if (short_len_) {
      bytes_.assign(reinterpret_cast<const char*>(short_), short_len_);
      short_len_ = 0;
    }
    return bytes_;
  }

  struct Box {
    virtual ~Box() = default;
    virtual const void* type() const = 0;
    virtual bool serialize(std::string* out) const = 0;
  };
  template <class T>
  struct BoxOf final : Box {
    BoxOf() = default;
    template <class U>
    explicit BoxOf(U&& v) : value(std::forward<U>(v)) {}
    const void* type() const override { return detail::type_tag<T>(); }
    bool serialize(std::string* out) const override {
      if constexpr (detail::kIsProto<T>) {
        return value.SerializeToString(out);
      } else {
        (void)out;
        return false;
      }
    }
    T value;
  };

  std::string bytes_;
  const void* inline_type_ = nullptr;
  std::unique_ptr<Box> box_;
  uint8_t short_len_ = 0;  // > 0: the bytes are short_[0, short_len_), bytes_ is empty
  unsigned char short_[kShortBytes];  // only its first short_len_ bytes are ever read or copied
};

}  // namespace behavior
