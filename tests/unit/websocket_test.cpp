// websocket_test.cpp — RFC 6455 as the gateway needs it: the RFC's own handshake example,
// refused upgrade requests, frames of every length class round-tripping masked, fragments
// reassembled with a ping in between, and the violations that must close the connection
// (unmasked client frames, reserved bits, long or fragmented control frames, oversized
// messages, continuation without a start).
#include <behavior/websocket.h>
#include <gtest/gtest.h>

#include <vector>

namespace behavior::ws {
namespace {

HttpRequest upgrade(const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==") {
  HttpRequest r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"upgrade", "websocket"}, {"connection", "keep-alive, Upgrade"}, {"sec-websocket-version", "13"},
               {"sec-websocket-key", key}};
  return r;
}

struct Msg {
  Opcode op;
  std::string payload;
};

std::vector<Msg> decode(FrameDecoder& d, const std::string& wire, Status* status, size_t step = 1 << 20) {
  std::vector<Msg> out;
  for (size_t i = 0; i < wire.size() && status->ok(); i += step) {
    *status = d.feed(wire.data() + i, std::min(step, wire.size() - i), [&](Opcode op, std::string_view p) {
      out.push_back({op, std::string(p)});
      return true;
    });
  }
  return out;
}

TEST(WebSocket, TheRfcHandshakeExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  Result<std::string> r = upgrade_response(upgrade());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NE(r->find("101 Switching Protocols"), std::string::npos);
  EXPECT_NE(r->find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
}

TEST(WebSocket, BadUpgradeRequestsAreRefused) {
  HttpRequest post = upgrade();
  post.method = "POST";
  EXPECT_FALSE(upgrade_response(post).ok());
  HttpRequest no_upgrade = upgrade();
  no_upgrade.headers.erase("upgrade");
  EXPECT_FALSE(upgrade_response(no_upgrade).ok());
  HttpRequest v8 = upgrade();
  v8.headers["sec-websocket-version"] = "8";
  EXPECT_FALSE(upgrade_response(v8).ok());
  EXPECT_FALSE(upgrade_response(upgrade("short")).ok());
  EXPECT_FALSE(upgrade_response(upgrade("dGhlIHNhbXBsZSBub25jZQ!=")).ok());
}

// RFC 6455 4.4: another version gets 426 and the version we speak; anything else 400.
TEST(WebSocket, AnotherVersionGets426WithOursAndOtherRefusals400) {
  HttpRequest v8 = upgrade();
  v8.headers["sec-websocket-version"] = "8";
  Result<std::string> r = upgrade_response(v8);
  ASSERT_FALSE(r.ok());
  std::string answer = refusal_response(v8, r.status());
  EXPECT_EQ(answer.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  HttpRequest post = upgrade();
  post.method = "POST";
  answer = refusal_response(post, upgrade_response(post).status());
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  EXPECT_EQ(answer.find("Sec-WebSocket-Version"), std::string::npos) << answer;
}

TEST(WebSocket, FramesOfEveryLengthClassRoundTripMasked) {
  for (size_t len : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{200000}}) {
    std::string payload(len, 'p');
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(i * 31);
    std::string wire;
    append_frame(Opcode::kBinary, payload, true, &wire);
    FrameDecoder server(true, 1 << 20);
    Status s;
    auto got = decode(server, wire, &s, 1000);
    ASSERT_TRUE(s.ok()) << len << ": " << s.to_string();
    ASSERT_EQ(got.size(), 1u) << len;
    EXPECT_EQ(got[0].op, Opcode::kBinary);
    EXPECT_EQ(got[0].payload, payload);
    // Unmasked server frames decode on the client side.
    std::string back;
    append_frame(Opcode::kBinary, payload, false, &back);
    FrameDecoder client(false, 1 << 20);
    got = decode(client, back, &s, 777);
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, payload);
  }
}

TEST(WebSocket, FragmentsAreReassembledAroundAPing) {
  std::string wire;
  // FIN=0 binary "ab", ping "?", continuation FIN=0 "cd", continuation FIN=1 "ef".
  std::string part;
  append_frame(Opcode::kBinary, "ab", true, &part);
  part[0] = static_cast<char>(0x02);  // clear FIN
  wire += part;
  append_frame(Opcode::kPing, "?", true, &wire);
  part.clear();
  append_frame(Opcode::kContinuation, "cd", true, &part);
  part[0] = static_cast<char>(0x00);
  wire += part;
  append_frame(Opcode::kContinuation, "ef", true, &wire);
  FrameDecoder d(true, 1024);
  Status s;
  auto got = decode(d, wire, &s, 1);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].op, Opcode::kPing);
  EXPECT_EQ(got[1].op, Opcode::kBinary);
  EXPECT_EQ(got[1].payload, "abcdef");
}

TEST(WebSocket, ViolationsCloseWithTheRightCode) {
  struct Case {
    const char* what;
    std::string wire;
    uint16_t code;
  };
  std::string unmasked, reserved, long_ping, split_ping, big, orphan, bad_op;
  append_frame(Opcode::kBinary, "x", false, &unmasked);
  append_frame(Opcode::kBinary, "x", true, &reserved);
  reserved[0] = static_cast<char>(reserved[0] | 0x40);
  append_frame(Opcode::kPing, std::string(126, 'p'), true, &long_ping);
  append_frame(Opcode::kPing, "p", true, &split_ping);
  split_ping[0] = static_cast<char>(0x09);  // FIN clear on a control frame
  append_frame(Opcode::kBinary, std::string(2000, 'b'), true, &big);
  append_frame(Opcode::kContinuation, "c", true, &orphan);
  append_frame(Opcode::kBinary, "x", true, &bad_op);
  bad_op[0] = static_cast<char>(0x83);  // opcode 3 is reserved
  for (const Case& c : std::vector<Case>{{"unmasked", unmasked, kCloseProtocolError},
                                         {"reserved bits", reserved, kCloseProtocolError},
                                         {"long ping", long_ping, kCloseProtocolError},
                                         {"fragmented ping", split_ping, kCloseProtocolError},
                                         {"too big", big, kCloseTooBig},
                                         {"orphan continuation", orphan, kCloseProtocolError},
                                         {"reserved opcode", bad_op, kCloseProtocolError}}) {
    FrameDecoder d(true, 1024);
    Status s;
    decode(d, c.wire, &s);
    EXPECT_FALSE(s.ok()) << c.what;
    EXPECT_EQ(d.close_code(), c.code) << c.what;
    std::string fine;
    append_frame(Opcode::kBinary, "y", true, &fine);
    EXPECT_FALSE(d.feed(fine.data(), fine.size(), [](Opcode, std::string_view) { return true; }).ok()) << c.what;
  }
}

}  // namespace
}  // namespace behavior::ws
