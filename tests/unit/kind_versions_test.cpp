// kind_versions_test.cpp — the "kinds" field of a node's registration (cluster.h): what a
// node publishes reads back the same, kind names cannot break the format, anything malformed
// reads as unknown (never as a wrong version), and ClusterNodeInfo exposes it the same way to
// the name server, ctl and /v1/cluster.
#include <behavior/cluster.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace behavior {
namespace {

TEST(KindVersions, PrintsSortedNameColonVersionJoinedByCommas) {
  EXPECT_EQ(format_kind_versions({{"user", 2}, {"room", 1}}), "room:1,user:2");
  EXPECT_EQ(format_kind_versions({}), "");
}

TEST(KindVersions, WhatIsPrintedParsesBackTheSame) {
  const KindVersions kinds{{"room", 1}, {"user", 4294967295u}, {"a.b-c_d", 7}};
  auto back = parse_kind_versions(format_kind_versions(kinds));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, kinds);
}

TEST(KindVersions, NamesWithSeparatorsOrAnyByteAreEscapedAndSurviveTheRoundTrip) {
  const KindVersions kinds{{"a,b:c", 3}, {"100%", 1}, {"sp ace", 2}, {std::string("nul\0x", 5), 9}, {"é", 5}};
  const std::string text = format_kind_versions(kinds);
  // Only the separators between entries remain raw: 4 commas for 5 kinds, one colon each.
  EXPECT_EQ(std::count(text.begin(), text.end(), ','), 4) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), ':'), 5) << text;
  EXPECT_NE(text.find("a%2Cb%3Ac:3"), std::string::npos) << text;
  EXPECT_NE(text.find("100%25:1"), std::string::npos) << text;
  auto back = parse_kind_versions(text);
  ASSERT_TRUE(back.has_value()) << text;
  EXPECT_EQ(*back, kinds);
}

TEST(KindVersions, AnEmptyFieldMeansNoKindsNotUnknown) {
  auto none = parse_kind_versions("");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

TEST(KindVersions, MalformedTextIsRefusedWhole) {
  for (const char* bad : {"room", "room:", ":1", "room:0", "room:-1", "room:1x", "room:4294967296",
                          "room:99999999999", "room:1,", ",room:1", "room:1,,user:2", "room:1,room:2",
                          "ro%2:1", "ro%zz:1", "ro%:1", "ro om:1", "room:1:2", "room:+1", "room: 1"}) {
    EXPECT_FALSE(parse_kind_versions(bad).has_value()) << "accepted: " << bad;
  }
  // Lower-case hex escapes are read too (the printer writes upper case).
  auto lower = parse_kind_versions("a%2cb:1");
  ASSERT_TRUE(lower.has_value());
  EXPECT_EQ(lower->count("a,b"), 1u);
}

TEST(KindVersions, ARegistrationWithoutTheFieldHasUnknownKindsAndRunsAnyKindAtVersionZero) {
  ClusterNodeInfo n;
  n.set_field("capacity", "10");
  EXPECT_FALSE(n.kinds.has_value());
  EXPECT_EQ(n.kind_version("user"), std::optional<uint32_t>(0));
}

TEST(KindVersions, ARegistrationWithTheFieldTellsWhichKindsRunAtWhichVersion) {
  ClusterNodeInfo n;
  n.set_field("kinds", "room:1,user:2");
  ASSERT_TRUE(n.kinds.has_value());
  EXPECT_EQ(n.kind_version("user"), std::optional<uint32_t>(2));
  EXPECT_EQ(n.kind_version("room"), std::optional<uint32_t>(1));
  EXPECT_EQ(n.kind_version("durable"), std::nullopt);  // does not run it
}

TEST(KindVersions, AMalformedFieldReadsAsUnknown) {
  ClusterNodeInfo n;
  n.set_field("kinds", "room:1,user:two");
  EXPECT_FALSE(n.kinds.has_value());
  EXPECT_EQ(n.kind_version("user"), std::optional<uint32_t>(0));
}

TEST(KindVersions, TheJsonOfANodeHasItsKindsOrNullWhenUnknown) {
  ClusterNodeInfo n;
  n.set_field("kinds", "room:1,user:2");
  rapidjson::Document d;
  d.Parse(n.to_json(0).c_str());
  ASSERT_TRUE(d.IsObject());
  ASSERT_TRUE(d["kinds"].IsObject());
  EXPECT_EQ(d["kinds"]["room"].GetUint(), 1u);
  EXPECT_EQ(d["kinds"]["user"].GetUint(), 2u);

  ClusterNodeInfo old;
  d.Parse(old.to_json(0).c_str());
  ASSERT_TRUE(d.IsObject());
  EXPECT_TRUE(d["kinds"].IsNull());
}

}  // namespace
}  // namespace behavior
