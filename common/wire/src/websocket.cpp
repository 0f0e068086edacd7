// websocket.cpp — see websocket.h. Frame layout (RFC 6455 §5.2):
//   byte 0: FIN | RSV1-3 | opcode(4)    byte 1: MASK | len(7)
//   len 126: u16 length follows; 127: u64 length follows; then a 4-byte mask key if MASK
#include "behavior/websocket.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "behavior/crypto.h"

namespace behavior::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_token(std::string_view header, std::string_view token) {
  std::string h = lower(header);
  size_t start = 0;
  while (start <= h.size()) {
    size_t comma = h.find(',', start);
    if (comma == std::string::npos) comma = h.size();
    std::string_view part(h.data() + start, comma - start);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part == token) return true;
    start = comma + 1;
  }
  return false;
}

// Standard base64 (with padding) of exactly 16 bytes: 24 characters ending in "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (size_t i = 0; i < 22; ++i) {
    char c = key[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return false;
  }
  return true;
}

std::string_view header(const HttpRequest& req, const char* name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  std::string in(client_key);
  in += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest), Base64::kStandard);
}

std::string new_client_key() { return base64_encode(random_bytes(16), Base64::kStandard); }

Result<std::string> upgrade_response(const HttpRequest& req) {
  if (req.method != "GET") return Status::invalid_argument("a WebSocket upgrade must be a GET");
  if (!has_token(header(req, "upgrade"), "websocket")) return Status::invalid_argument("Upgrade: websocket is missing");
  if (!has_token(header(req, "connection"), "upgrade")) return Status::invalid_argument("Connection: upgrade is missing");
  if (header(req, "sec-websocket-version") != "13") return Status::invalid_argument("Sec-WebSocket-Version must be 13");
  std::string_view key = header(req, "sec-websocket-key");
  if (!valid_key(key)) return Status::invalid_argument("Sec-WebSocket-Key is not 16 bytes of base64");
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
         accept_key(key) + "\r\n\r\n";
}

std::string refusal_response(const HttpRequest& req, const Status& why) {
  const bool other_version = req.method == "GET" && has_token(header(req, "upgrade"), "websocket") &&
                             has_token(header(req, "connection"), "upgrade") &&
                             header(req, "sec-websocket-version") != "13";
  std::string out = other_version ? "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                                  : "HTTP/1.1 400 Bad Request\r\n";
  out += "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: " + std::to_string(why.message().size()) +
         "\r\n\r\n" + why.message();
  return out;
}

void append_frame(Opcode op, std::string_view payload, bool mask, std::string* out) {
  out->push_back(static_cast<char>(0x80 | static_cast<uint8_t>(op)));
  const uint8_t mask_bit = mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    out->push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out->push_back(static_cast<char>(mask_bit | 126));
    out->push_back(static_cast<char>(n >> 8));
    out->push_back(static_cast<char>(n));
  } else {
    out->push_back(static_cast<char>(mask_bit | 127));
    for (int s = 56; s >= 0; s -= 8) out->push_back(static_cast<char>(n >> s));
  }
  if (!mask) {
    out->append(payload);
    return;
  }
  std::string key = random_bytes(4);
  out->append(key);
  size_t start = out->size();
  out->append(payload);
  for (size_t i = 0; i < n; ++i) (*out)[start + i] = static_cast<char>((*out)[start + i] ^ key[i & 3]);
}

void append_close(uint16_t code, std::string_view reason, bool mask, std::string* out) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code));
  payload.append(reason.substr(0, 123));
  append_frame(Opcode::kClose, payload, mask, out);
}

Status FrameDecoder::fail(uint16_t code, std::string what) {
  close_code_ = code;
  buf_.clear();
  message_.clear();
  return Status::invalid_argument(std::move(what));
}

size_t FrameDecoder::parse_one(const char* p, size_t n, const OnMessage& on_message, bool* stop, Status* error) {
  if (n < 2) return 0;
  const uint8_t b0 = static_cast<uint8_t>(p[0]), b1 = static_cast<uint8_t>(p[1]);
  const bool fin = b0 & 0x80;
  const uint8_t op = b0 & 0x0F;
  const bool masked = b1 & 0x80;
  if (b0 & 0x70) return *error = fail(kCloseProtocolError, "reserved bits set"), SIZE_MAX;
  if (masked != server_) {
    return *error = fail(kCloseProtocolError, server_ ? "client frames must be masked" : "server frames must not be masked"),
           SIZE_MAX;
  }
  const bool control = op & 0x08;
  if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10) {
    return *error = fail(kCloseProtocolError, "unknown opcode " + std::to_string(op)), SIZE_MAX;
  }
  uint64_t len = b1 & 0x7F;
  size_t head = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t(uint8_t(p[2])) << 8) | uint8_t(p[3]);
    head = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(p[2 + i]);
    head = 10;
    if (len >> 63) return *error = fail(kCloseProtocolError, "frame length has the top bit set"), SIZE_MAX;
  }
  if (control && (!fin || len > 125)) {
    return *error = fail(kCloseProtocolError, "control frames must be whole and at most 125 bytes"), SIZE_MAX;
  }
  if (!control && len + message_.size() > max_) return *error = fail(kCloseTooBig, "message too big"), SIZE_MAX;
  if (masked) head += 4;
  if (n < head || n - head < len) return 0;
  std::string payload(p + head, static_cast<size_t>(len));
  if (masked) {
    const char* key = p + head - 4;
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i & 3]);
  }
  const size_t used = head + static_cast<size_t>(len);
  if (control) {
    if (!on_message(static_cast<Opcode>(op), payload)) *stop = true;
    return used;
  }
  if (op == 0) {
    if (!in_message_) return *error = fail(kCloseProtocolError, "continuation without a message"), SIZE_MAX;
    message_ += payload;
  } else {
    if (in_message_) return *error = fail(kCloseProtocolError, "a new message inside a fragmented one"), SIZE_MAX;
    message_op_ = static_cast<Opcode>(op);
    message_ = std::move(payload);
    in_message_ = true;
  }
  if (fin) {
    in_message_ = false;
    std::string whole;
    whole.swap(message_);
    if (!on_message(message_op_, whole)) *stop = true;
  }
  return used;
}

Status FrameDecoder::feed(const char* data, size_t n, const OnMessage& on_message) {
  if (close_code_ != 0) return Status::invalid_argument("the WebSocket stream is broken");
  // Simple and safe: frames are parsed from one contiguous buffer. The common case (no
  // leftover) parses straight from `data`.
  std::string joined;
  if (!buf_.empty()) {
    joined.swap(buf_);
    joined.append(data, n);
    data = joined.data();
    n = joined.size();
  }
  size_t used = 0;
  bool stop = false;
  while (used < n && !stop) {
    Status error;
    size_t k = parse_one(data + used, n - used, on_message, &stop, &error);
    if (k == SIZE_MAX) return error;
    if (k == 0) break;
    used += k;
  }
  if (!stop && used < n) {
    if (n - used > max_ + 14) return fail(kCloseTooBig, "frame too big");
    buf_.assign(data + used, n - used);
  }
  return {};
}

}  // namespace behavior::ws
