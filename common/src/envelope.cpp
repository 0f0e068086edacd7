// envelope.cpp — see envelope.h. Protobuf wire format by hand: tag = field << 3 | wire
// type; varints little-endian base-128; fixed64 little-endian; bytes length-delimited.
// Unknown fields are skipped (newer peers may add some); known fields with the wrong wire
// type, truncated values, and out-of-range kinds or codes are errors.
#include "envelope.h"

#include <cstring>

namespace behavior::detail {
namespace {

constexpr int kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5;
constexpr uint8_t kMaxKind = static_cast<uint8_t>(Kind::kDemonitor);
constexpr uint8_t kMaxCode = static_cast<uint8_t>(Code::kUnauthenticated);

void put_varint(uint64_t v, std::string* out) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, static_cast<size_t>(n));
}

void put_fixed64(uint64_t v, std::string* out) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
  out->append(buf, 8);
}

void put_tag(int field, int wire, std::string* out) {
  put_varint(static_cast<uint64_t>(field << 3 | wire), out);
}

struct Cursor {
  const unsigned char* p;
  const unsigned char* end;
  bool varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      unsigned char b = *p++;
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) {
        *v = result;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }
  bool fixed64(uint64_t* v) {
    if (end - p < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<uint64_t>(p[i]) << (8 * i);
    p += 8;
    *v = r;
    return true;
  }
  bool bytes(std::string_view* v) {
    uint64_t len = 0;
    if (!varint(&len) || len > static_cast<uint64_t>(end - p)) return false;
    *v = std::string_view(reinterpret_cast<const char*>(p), len);
    p += len;
    return true;
  }
  bool skip(int wire) {
    uint64_t v;
    std::string_view s;
    switch (wire) {
      case kVarint: return varint(&v);
      case kFixed64: return fixed64(&v);
      case kLen: return bytes(&s);
      case kFixed32:
        if (end - p < 4) return false;
        p += 4;
        return true;
      default: return false;  // groups (3, 4) and invalid types
    }
  }
};

}  // namespace

void append_frame(std::string_view payload, std::string* out) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                 static_cast<char>(n)};
  out->append(len, 4);
  out->append(payload);
}

Status append_envelope_frame(const Message& m, size_t max_frame, std::string* out) {
  std::string serialized;
  std::string_view body;
  Body& b = const_cast<Message&>(m).body();
  if (b.boxed()) {
    Status s = b.serialize(&serialized);
    if (!s.ok()) return s;
    body = serialized;
  } else {
    body = b.raw();
  }
  size_t start = out->size();
  out->append(4, '\0');
  put_tag(1, kFixed64, out);
  put_fixed64(m.to().raw(), out);
  put_tag(2, kFixed64, out);
  put_fixed64(m.from().raw(), out);
  if (m.proto_id()) {
    put_tag(3, kVarint, out);
    put_varint(m.proto_id(), out);
  }
  if (m.kind() != Kind::kInfo) {
    put_tag(4, kVarint, out);
    put_varint(static_cast<uint64_t>(m.kind()), out);
  }
  if (m.request_id()) {
    put_tag(5, kVarint, out);
    put_varint(m.request_id(), out);
  }
  if (m.code() != Code::kOk) {
    put_tag(6, kVarint, out);
    put_varint(static_cast<uint64_t>(m.code()), out);
  }
  if (!body.empty()) {
    put_tag(7, kLen, out);
    put_varint(body.size(), out);
    out->append(body);
  }
  size_t payload = out->size() - start - 4;
  if (payload > max_frame) {
    out->resize(start);
    return Status::invalid_argument("message of " + std::to_string(payload) +
                                    " bytes exceeds the s2s frame limit");
  }
  auto n = static_cast<uint32_t>(payload);
  (*out)[start] = static_cast<char>(n >> 24);
  (*out)[start + 1] = static_cast<char>(n >> 16);
  (*out)[start + 2] = static_cast<char>(n >> 8);
  (*out)[start + 3] = static_cast<char>(n);
  return {};
}

Result<MessagePtr> decode_envelope(std::string_view payload) {
  Cursor c{reinterpret_cast<const unsigned char*>(payload.data()),
           reinterpret_cast<const unsigned char*>(payload.data()) + payload.size()};
  uint64_t to = 0, from = 0, proto_id = 0, kind = 0, request_id = 0, code = 0;
  std::string_view body;
  while (c.p < c.end) {
    uint64_t tag = 0;
    if (!c.varint(&tag)) return Status::invalid_argument("envelope: truncated tag");
    int field = static_cast<int>(tag >> 3);
    int wire = static_cast<int>(tag & 7);
    bool ok = true;
    switch (field) {
      case 1: ok = wire == kFixed64 && c.fixed64(&to); break;
      case 2: ok = wire == kFixed64 && c.fixed64(&from); break;
      case 3: ok = wire == kVarint && c.varint(&proto_id) && proto_id <= UINT32_MAX; break;
      case 4: ok = wire == kVarint && c.varint(&kind) && kind <= kMaxKind; break;
      case 5: ok = wire == kVarint && c.varint(&request_id); break;
      case 6: ok = wire == kVarint && c.varint(&code) && code <= kMaxCode; break;
      case 7: ok = wire == kLen && c.bytes(&body); break;
      default: ok = field != 0 && c.skip(wire); break;
    }
    if (!ok) return Status::invalid_argument("envelope: malformed field " + std::to_string(field));
  }
  if (to == 0) return Status::invalid_argument("envelope: no destination");
  auto m = std::make_unique<Message>(Pid::from_raw(to), Pid::from_raw(from), static_cast<Kind>(kind),
                                     static_cast<uint32_t>(proto_id), Body::bytes(std::string(body)));
  m->set_request_id(request_id);
  m->set_code(static_cast<Code>(code));
  return MessagePtr(std::move(m));
}

Status FrameReader::feed(const char* data, size_t n,
                         const std::function<Status(std::string_view)>& on_frame) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.append(data, n);
  while (buf_.size() - pos_ >= 4) {
    auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
    size_t len = size_t{p[0]} << 24 | size_t{p[1]} << 16 | size_t{p[2]} << 8 | size_t{p[3]};
    if (len > max_frame_) {
      return Status::invalid_argument("frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                                      std::to_string(max_frame_));
    }
    if (buf_.size() - pos_ - 4 < len) break;
    Status s = on_frame(std::string_view(buf_.data() + pos_ + 4, len));
    pos_ += 4 + len;
    if (!s.ok()) return s;
  }
  if (pos_ > (1 << 16) && pos_ * 2 > buf_.size()) {  // compact now and then
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return {};
}

}  // namespace behavior::detail
