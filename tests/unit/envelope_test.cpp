// envelope_test.cpp — the hand-written s2s codec speaks exactly s2s.proto's Envelope (both
// directions against the generated class), cuts streams into frames however they are split,
// and refuses malformed or oversized input with an error.
#include <gtest/gtest.h>

#include "envelope.h"
#include "s2s.pb.h"

namespace behavior::detail {
namespace {

MessagePtr sample() {
  auto m = std::make_unique<Message>(Pid(2, 1, 99), Pid(1, 0, 7), Kind::kCall, 4242, Body::bytes("payload \x01\x02"));
  m->set_request_id(123456789012345ull);
  return m;
}

std::string payload_of(const std::string& frame) { return frame.substr(4); }

TEST(Envelope, EncodesWhatTheGeneratedProtobufClassReads) {
  std::string frame;
  ASSERT_TRUE(append_envelope_frame(*sample(), 1 << 20, &frame).ok());
  pb::Envelope e;
  ASSERT_TRUE(e.ParseFromString(payload_of(frame)));
  EXPECT_EQ(e.to(), Pid(2, 1, 99).raw());
  EXPECT_EQ(e.from(), Pid(1, 0, 7).raw());
  EXPECT_EQ(e.proto_id(), 4242u);
  EXPECT_EQ(e.kind(), static_cast<uint32_t>(Kind::kCall));
  EXPECT_EQ(e.request_id(), 123456789012345ull);
  EXPECT_EQ(e.body(), "payload \x01\x02");
}

TEST(Envelope, DecodesWhatTheGeneratedProtobufClassWrites) {
  pb::Envelope e;
  e.set_to(Pid(3, 0, 1).raw());
  e.set_from(Pid(4, 2, 8).raw());
  e.set_proto_id(9);
  e.set_kind(static_cast<uint32_t>(Kind::kReply));
  e.set_request_id(77);
  e.set_code(static_cast<uint32_t>(Code::kTimeout));
  e.set_body("late");
  Result<MessagePtr> m = decode_envelope(e.SerializeAsString());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->to(), Pid(3, 0, 1));
  EXPECT_EQ((*m)->from(), Pid(4, 2, 8));
  EXPECT_EQ((*m)->kind(), Kind::kReply);
  EXPECT_EQ((*m)->code(), Code::kTimeout);
  EXPECT_EQ((*m)->request_id(), 77u);
  EXPECT_EQ((*m)->body().raw(), "late");
}

TEST(Envelope, BoxedProtobufBodiesTravelAndPlainObjectsDoNot) {
  pb::Challenge c;
  c.set_node_id(5);
  Message with_proto(Pid(2, 0, 1), Pid(), Kind::kInfo, 1, c);
  std::string frame;
  ASSERT_TRUE(append_envelope_frame(with_proto, 1 << 20, &frame).ok());
  Result<MessagePtr> back = decode_envelope(payload_of(frame));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->as<pb::Challenge>().node_id(), 5u);

  struct Local {
    int x;
    std::string s;
  };
  Message plain(Pid(2, 0, 1), Pid(), Kind::kInfo, 1, Local{1, "x"});
  std::string out;
  EXPECT_EQ(append_envelope_frame(plain, 1 << 20, &out).code(), Code::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

TEST(Envelope, TooLargeForTheFrameLimitIsRefused) {
  Message big(Pid(2, 0, 1), Pid(), Kind::kInfo, 1, Body::bytes(std::string(5000, 'x')));
  std::string out = "keep";
  EXPECT_FALSE(append_envelope_frame(big, 1000, &out).ok());
  EXPECT_EQ(out, "keep");
}

TEST(Envelope, UnknownFieldsAreSkipped) {
  pb::Envelope e;
  e.set_to(Pid(1, 0, 1).raw());
  std::string wire = e.SerializeAsString();
  wire += std::string("\xa0\x06\x05", 3);  // field 100, varint 5
  EXPECT_TRUE(decode_envelope(wire).ok());
}

TEST(Envelope, MalformedInputIsAnErrorNotACrash) {
  const std::string bad[] = {
      std::string("\x09\x01\x02", 3),           // fixed64 cut short
      std::string("\x0a\x01x", 3),              // field 1 with the wrong wire type
      std::string("\x20\xff", 2),               // truncated varint
      std::string("\x20\x63", 2),               // kind 99: out of range
      std::string("\x3a\x10short", 7),          // body longer than the input
      std::string("\x0b", 1),                   // a group (wire type 3)
      std::string("\x10\x01", 2),               // no destination
      std::string("\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),  // 11-byte varint
  };
  for (const auto& b : bad) EXPECT_FALSE(decode_envelope(b).ok()) << testing::PrintToString(b);
}

TEST(FrameReader, ReassemblesFramesSplitAnywhere) {
  std::string stream;
  for (int i = 0; i < 20; ++i) append_frame(std::string(static_cast<size_t>(i * 37), static_cast<char>('a' + i % 26)), &stream);
  for (size_t chunk : {1u, 3u, 7u, 64u, 4096u}) {
    FrameReader r(1 << 20);
    std::vector<std::string> got;
    for (size_t off = 0; off < stream.size(); off += chunk) {
      ASSERT_TRUE(r.feed(stream.data() + off, std::min(chunk, stream.size() - off), [&](std::string_view p) {
                     got.emplace_back(p);
                     return Status();
                   }).ok());
    }
    ASSERT_EQ(got.size(), 20u) << "chunk " << chunk;
    for (int i = 0; i < 20; ++i) EXPECT_EQ(got[i].size(), static_cast<size_t>(i * 37));
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(FrameReader, OversizedLengthIsAnError) {
  FrameReader r(1024);
  std::string header("\x00\x00\x10\x00", 4);  // 4096 > 1024
  EXPECT_FALSE(r.feed(header.data(), header.size(), [](std::string_view) { return Status(); }).ok());
}

}  // namespace
}  // namespace behavior::detail
