// body_test.cpp — Body: inline small values, boxed objects, bytes, protobuf decoding from
// the wire form, and clear errors on a type mismatch.
#include <gtest/gtest.h>

#include <behavior/body.h>

#include <behavior/system.pb.h>

namespace behavior {
namespace {

TEST(Body, SmallValuesAreStoredInlineAndReadBack) {
  Body b(42);
  EXPECT_TRUE(b.is<int>());
  EXPECT_FALSE(b.boxed());
  EXPECT_EQ(b.as<int>(), 42);
  EXPECT_EQ(b.raw().size(), sizeof(int));
}

TEST(Body, WrongInlineTypeThrowsBadBody) {
  Body b(42);
  EXPECT_THROW(b.as<double>(), BadBody);
  EXPECT_THROW(b.as<long>(), BadBody);
}

TEST(Body, BytesFromTheWireReadAsSmallValuesWhenTheSizeMatches) {
  int v = 7;
  Body b = Body::bytes(std::string(reinterpret_cast<char*>(&v), sizeof v));
  EXPECT_EQ(b.as<int>(), 7);
  EXPECT_THROW(b.as<uint64_t>(), BadBody);
}

TEST(Body, StringsAreBytes) {
  Body b(std::string("hello"));
  EXPECT_EQ(b.as<std::string>(), "hello");
  Body c("literal");
  EXPECT_EQ(c.raw(), "literal");
}

TEST(Body, ObjectsAreBoxedAndReturnedByReference) {
  struct Point {
    std::string label;
    int x, y;
  };
  Body b(Point{"p", 1, 2});
  EXPECT_TRUE(b.boxed());
  EXPECT_TRUE(b.is<Point>());
  Point& p = b.as<Point>();
  p.x = 10;
  EXPECT_EQ(b.as<Point>().x, 10);
  EXPECT_THROW(b.as<std::string>(), BadBody);
  std::string wire;
  EXPECT_FALSE(b.serialize(&wire).ok());  // a plain struct has no wire form
}

TEST(Body, ProtobufRoundTripsThroughTheWireForm) {
  pb::DownSignal d;
  d.set_ref(5);
  d.set_reason("crashed");
  Body local(d);
  std::string wire;
  ASSERT_TRUE(local.serialize(&wire).ok());
  Body remote = Body::bytes(wire);
  auto& back = remote.as<pb::DownSignal>();
  EXPECT_EQ(back.ref(), 5u);
  EXPECT_EQ(back.reason(), "crashed");
  EXPECT_TRUE(remote.is<pb::DownSignal>());  // decoded once, now held as the object
}

TEST(Body, GarbageBytesDoNotParseAsProtobuf) {
  Body b = Body::bytes(std::string("\xff\xff\xff\xff\xff", 5));
  EXPECT_THROW(b.as<pb::DownSignal>(), BadBody);
}

TEST(Body, MovedFromBodyIsEmpty) {
  Body a(std::string("x"));
  Body b(std::move(a));
  EXPECT_EQ(b.as<std::string>(), "x");
  EXPECT_TRUE(Body().empty());
}

// Body::copy_of keeps short bytes inside the Body (no allocation) and longer ones in a
// string; either way every reader sees the same bytes, and moves carry them.
TEST(Body, CopiedBytesReadTheSameShortOrLong) {
  const std::string short_bytes(Body::kShortBytes, 's');
  const std::string long_bytes(Body::kShortBytes + 1, 'l');
  for (const std::string* bytes : {&short_bytes, &long_bytes}) {
    Body b = Body::copy_of(*bytes);
    EXPECT_FALSE(b.empty());
    EXPECT_EQ(b.raw(), *bytes);
    std::string wire;
    ASSERT_TRUE(b.serialize(&wire).ok());
    EXPECT_EQ(wire, *bytes);
    Body moved(std::move(b));
    EXPECT_EQ(moved.raw(), *bytes);
    EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    Body assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.as<std::string>(), *bytes);  // a string is made on demand
    EXPECT_EQ(assigned.raw(), *bytes);
  }
  EXPECT_TRUE(Body::copy_of("").empty());
  uint32_t v = 0xA1B2C3D4;
  EXPECT_EQ(Body::copy_of(std::string_view(reinterpret_cast<const char*>(&v), sizeof v)).as<uint32_t>(), v);
  pb::DownSignal d;
  d.set_ref(7);
  d.set_reason("short");
  Body p = Body::copy_of(d.SerializeAsString());
  EXPECT_EQ(p.as<pb::DownSignal>().reason(), "short");
  EXPECT_TRUE(p.raw().empty());  // decoded: now the object, the bytes are gone
  EXPECT_THROW(Body::copy_of("\xff\xff\xff").as<pb::DownSignal>(), BadBody);
}

}  // namespace
}  // namespace behavior
