// client_frame.cpp — see client_frame.h.
#include "behavior/client_frame.h"

namespace behavior {
namespace {

void put_u32(uint32_t v, std::string* out) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}

uint32_t get_u32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

}  // namespace

void append_client_frame(uint32_t proto_id, std::string_view body, std::string* out) {
  out->reserve(out->size() + 8 + body.size());
  put_u32(static_cast<uint32_t>(4 + body.size()), out);
  put_u32(proto_id, out);
  out->append(body);
}

bool split_client_payload(std::string_view payload, uint32_t* proto_id, std::string_view* body) {
  if (payload.size() < 4) return false;
  *proto_id = get_u32(payload.data());
  *body = payload.substr(4);
  return true;
}

std::string udp_control(UdpControl type, uint32_t conv, std::string_view rest) {
  std::string d(4, '\0');
  d.push_back(static_cast<char>(type));
  if (conv != 0) {
    for (int i = 0; i < 4; ++i) d.push_back(static_cast<char>(conv >> (8 * i)));
  }
  d.append(rest);
  return d;
}

bool parse_udp_control(std::string_view d, bool with_conv, uint8_t* type, uint32_t* conv, std::string_view* rest) {
  if (d.size() < 5 || d[0] != 0 || d[1] != 0 || d[2] != 0 || d[3] != 0) return false;
  *type = static_cast<uint8_t>(d[4]);
  *conv = 0;
  size_t at = 5;
  if (with_conv) {
    if (d.size() < 9) return false;
    auto u = reinterpret_cast<const unsigned char*>(d.data() + 5);
    *conv = uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 | uint32_t{u[3]} << 24;
    at = 9;
  }
  *rest = d.substr(at);
  return true;
}

size_t ClientFrameDecoder::parse(const char* p, size_t n, const OnFrame& on_frame, bool* stop) {
  size_t used = 0;
  while (n - used >= 4) {
    uint32_t len = get_u32(p + used);
    if (len < 4 || len > max_) {
      failed_ = true;
      return SIZE_MAX;
    }
    if (n - used - 4 < len) break;
    const char* f = p + used + 4;
    used += 4 + len;
    if (!on_frame(get_u32(f), std::string_view(f + 4, len - 4))) {
      *stop = true;
      return used;
    }
  }
  return used;
}

Status ClientFrameDecoder::feed(const char* data, size_t n, const OnFrame& on_frame) {
  if (failed_) return Status::invalid_argument("the frame stream is broken");
  bool stop = false;
  if (!buf_.empty()) {
    // Complete the buffered frame first: append just enough of the new bytes.
    size_t need = 4;
    if (buf_.size() >= 4) {
      uint32_t len = get_u32(buf_.data());
      need = 4 + len;
    } else if (buf_.size() + n >= 4) {
      std::string head = buf_ + std::string(data, 4 - buf_.size());
      uint32_t len = get_u32(head.data());
      if (len < 4 || len > max_) {
        failed_ = true;
        return Status::invalid_argument("client frame length " + std::to_string(len) + " out of range");
      }
      need = 4 + len;
    }
    size_t take = std::min(n, need > buf_.size() ? need - buf_.size() : 0);
    buf_.append(data, take);
    data += take;
    n -= take;
    if (buf_.size() < need || buf_.size() < 4) return {};  // still incomplete
    std::string frame;
    frame.swap(buf_);
    size_t used = parse(frame.data(), frame.size(), on_frame, &stop);
    if (used == SIZE_MAX) return Status::invalid_argument("client frame length out of range");
    if (stop) return {};
  }
  size_t used = parse(data, n, on_frame, &stop);
  if (used == SIZE_MAX) return Status::invalid_argument("client frame length out of range");
  if (!stop && used < n) {
    // Keep the tail; refuse early a length that can never be valid.
    if (n - used >= 4) {
      uint32_t len = get_u32(data + used);
      if (len < 4 || len > max_) {
        failed_ = true;
        return Status::invalid_argument("client frame length out of range");
      }
    }
    buf_.assign(data + used, n - used);
  }
  return {};
}

}  // namespace behavior
