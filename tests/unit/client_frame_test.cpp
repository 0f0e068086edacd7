// client_frame_test.cpp — the gateway's TCP framing: frames round-trip whatever way the
// bytes are split, lengths under 4 or over the maximum break the stream (and stay broken),
// and nothing is buffered between whole frames.
#include <behavior/client_frame.h>
#include <gtest/gtest.h>

#include <vector>

namespace behavior {
namespace {

struct Got {
  uint32_t proto;
  std::string body;
};

TEST(ClientFrame, FramesRoundTripHoweverTheBytesAreSplit) {
  std::string wire;
  append_client_frame(1, "hello", &wire);
  append_client_frame(0xFFFF0011u, "", &wire);
  append_client_frame(42, std::string(3000, 'x'), &wire);
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
    ClientFrameDecoder d(64 * 1024);
    std::vector<Got> got;
    for (size_t i = 0; i < wire.size(); i += step) {
      ASSERT_TRUE(d.feed(wire.data() + i, std::min(step, wire.size() - i), [&](uint32_t p, std::string_view b) {
                     got.push_back({p, std::string(b)});
                     return true;
                   }).ok());
    }
    ASSERT_EQ(got.size(), 3u) << "step " << step;
    EXPECT_EQ(got[0].proto, 1u);
    EXPECT_EQ(got[0].body, "hello");
    EXPECT_EQ(got[1].proto, 0xFFFF0011u);
    EXPECT_EQ(got[1].body, "");
    EXPECT_EQ(got[2].body.size(), 3000u);
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(ClientFrame, BadLengthsBreakTheStream) {
  auto noop = [](uint32_t, std::string_view) { return true; };
  {
    ClientFrameDecoder d(1024);
    const char tiny[] = {0, 0, 0, 3, 1, 2, 3};  // length 3 < 4: no room for a protoID
    EXPECT_FALSE(d.feed(tiny, sizeof tiny, noop).ok());
    std::string ok;
    append_client_frame(1, "x", &ok);
    EXPECT_FALSE(d.feed(ok.data(), ok.size(), noop).ok());  // stays broken
  }
  {
    ClientFrameDecoder d(1024);
    std::string big;
    append_client_frame(1, std::string(1021, 'a'), &big);  // 4 + 1021 > 1024
    EXPECT_FALSE(d.feed(big.data(), 4, noop).ok());         // refused from the header alone
  }
  {
    ClientFrameDecoder d(1024);
    const char split[] = {0x7F, 0};  // a huge length arriving one byte at a time
    EXPECT_TRUE(d.feed(split, 1, noop).ok());
    EXPECT_TRUE(d.feed(split + 1, 1, noop).ok());
    const char rest[] = {0, 0};
    EXPECT_FALSE(d.feed(rest, 2, noop).ok());
  }
}

TEST(ClientFrame, SplitPayloadNeedsAProtoId) {
  uint32_t p = 0;
  std::string_view body;
  EXPECT_FALSE(split_client_payload("abc", &p, &body));
  ASSERT_TRUE(split_client_payload(std::string_view("\x00\x00\x00\x05hi", 6), &p, &body));
  EXPECT_EQ(p, 5u);
  EXPECT_EQ(body, "hi");
}

}  // namespace
}  // namespace behavior
