// bot_checker_test.cpp — the bot's message checks (tools/bot/bot_checker.h) as pure logic:
// echoes in order, lost, reordered, duplicated, abandoned by reconnect, per-sender order, percentiles.
#include <gtest/gtest.h>

#include "../../tools/bot/bot_checker.h"

namespace behavior::bot {
namespace {

TEST(EchoTracker, InOrderEchoesAreDeliveredWithTheirRoundTrip) {
  EchoTracker t;
  ASSERT_TRUE(t.sent(1, 100));
  ASSERT_TRUE(t.sent(2, 200));
  int64_t rtt = -1;
  EXPECT_EQ(t.received(1, 150, &rtt), EchoOutcome::kInOrder);
  EXPECT_EQ(rtt, 50);
  EXPECT_EQ(t.received(2, 260, &rtt), EchoOutcome::kInOrder);
  EXPECT_EQ(rtt, 60);
  EXPECT_EQ(t.pending(), 0u);
  t.finish();
  const EchoCounts& c = t.counts();
  EXPECT_EQ(c.sent, 2u);
  EXPECT_EQ(c.delivered, 2u);
  EXPECT_EQ(c.lost + c.reordered + c.duplicated + c.abandoned + c.unexpected, 0u);
}

TEST(EchoTracker, SeqsMustIncrease) {
  EchoTracker t;
  EXPECT_TRUE(t.sent(5, 0));
  EXPECT_FALSE(t.sent(5, 0));
  EXPECT_FALSE(t.sent(3, 0));
  EXPECT_EQ(t.counts().sent, 1u);
}

TEST(EchoTracker, ASecondEchoIsADuplicateAndANeverSentSeqIsUnexpected) {
  EchoTracker t;
  t.sent(1, 0);
  t.sent(2, 0);
  EXPECT_EQ(t.received(1, 1, nullptr), EchoOutcome::kInOrder);
  EXPECT_EQ(t.received(1, 2, nullptr), EchoOutcome::kDuplicate);
  EXPECT_EQ(t.received(7, 3, nullptr), EchoOutcome::kUnexpected);
  EXPECT_EQ(t.received(0, 3, nullptr), EchoOutcome::kUnexpected);
  EXPECT_EQ(t.counts().duplicated, 1u);
  EXPECT_EQ(t.counts().unexpected, 2u);
}

TEST(EchoTracker, AnEchoAfterALaterOneIsReordered) {
  EchoTracker t;
  for (uint64_t s = 1; s <= 3; ++s) t.sent(s, 0);
  EXPECT_EQ(t.received(2, 1, nullptr), EchoOutcome::kInOrder);
  EXPECT_EQ(t.received(1, 2, nullptr), EchoOutcome::kReordered);
  EXPECT_EQ(t.received(3, 3, nullptr), EchoOutcome::kInOrder);
  t.finish();
  EXPECT_EQ(t.counts().reordered, 1u);
  EXPECT_EQ(t.counts().delivered, 3u);
  EXPECT_EQ(t.counts().lost, 0u);
}

TEST(EchoTracker, DeliberateDropLosesSkippedSeqsAndAbandonsTheTail) {
  EchoTracker t;
  for (uint64_t s = 1; s <= 5; ++s) t.sent(s, 0);
  t.received(1, 1, nullptr);
  t.received(3, 1, nullptr);  // 2 was skipped on an ordered channel
  t.end_session(/*deliberate=*/true);
  EXPECT_EQ(t.counts().lost, 1u);       // 2
  EXPECT_EQ(t.counts().abandoned, 2u);  // 4 and 5 were in flight
  EXPECT_EQ(t.pending(), 0u);

  // The next session: new seqs go on from 6; an abandoned one may still turn up.
  t.sent(6, 10);
  EXPECT_EQ(t.received(4, 11, nullptr), EchoOutcome::kLateAbandoned);
  EXPECT_EQ(t.received(4, 12, nullptr), EchoOutcome::kDuplicate);
  EXPECT_EQ(t.received(6, 13, nullptr), EchoOutcome::kInOrder);
  // The one declared lost arrives after all: it was reordered, not lost.
  EXPECT_EQ(t.received(2, 14, nullptr), EchoOutcome::kReordered);
  EXPECT_EQ(t.counts().lost, 0u);
  EXPECT_EQ(t.counts().reordered, 1u);
  EXPECT_EQ(t.counts().late_abandoned, 1u);
  EXPECT_EQ(t.counts().duplicated, 1u);
}

TEST(EchoTracker, AFailedConnectionLosesSkippedSeqsAndAbandonsTheTailByFailure) {
  EchoTracker t;
  for (uint64_t s = 1; s <= 4; ++s) t.sent(s, 0);
  t.received(2, 1, nullptr);  // 1 was skipped on an ordered channel
  t.end_session(/*deliberate=*/false);
  EXPECT_EQ(t.counts().lost, 1u);
  EXPECT_EQ(t.counts().abandoned_by_failure, 2u);  // 3 and 4 were in flight
  EXPECT_EQ(t.counts().abandoned, 0u);
  t.sent(5, 0);
  EXPECT_EQ(t.received(3, 2, nullptr), EchoOutcome::kLateAbandoned);
}

TEST(EchoTracker, HighestEchoedResetsWithEachSession) {
  EchoTracker t;
  t.sent(1, 0);
  t.sent(2, 0);
  t.received(2, 1, nullptr);
  t.received(1, 1, nullptr);  // reordered within session 1
  t.end_session(true);
  t.sent(3, 0);
  t.sent(4, 0);
  EXPECT_EQ(t.received(3, 1, nullptr), EchoOutcome::kInOrder);
  EXPECT_EQ(t.received(4, 1, nullptr), EchoOutcome::kInOrder);
  EXPECT_EQ(t.counts().reordered, 1u);
}

TEST(EchoTracker, FinishCountsWhatIsStillPendingAsLost) {
  EchoTracker t;
  t.sent(1, 0);
  t.sent(2, 0);
  t.received(1, 1, nullptr);
  EXPECT_EQ(t.pending(), 1u);
  t.finish();
  EXPECT_EQ(t.counts().lost, 1u);
  EXPECT_EQ(t.pending(), 0u);
}

TEST(SenderOrder, SeqsPerSenderMustStrictlyIncrease) {
  SenderOrder o;
  EXPECT_EQ(o.received("a", 1, 1), OrderOutcome::kInOrder);
  EXPECT_EQ(o.received("b", 1, 7), OrderOutcome::kInOrder);  // senders are independent
  EXPECT_EQ(o.received("a", 1, 3), OrderOutcome::kInOrder);  // gaps are fine (we may join late)
  EXPECT_EQ(o.received("a", 1, 3), OrderOutcome::kDuplicate);
  EXPECT_EQ(o.received("a", 1, 2), OrderOutcome::kReordered);
  EXPECT_EQ(o.received("b", 1, 8), OrderOutcome::kInOrder);
  EXPECT_EQ(o.senders(), 2u);
}

TEST(SenderOrder, ANewerSessionStartsAfreshAndAnOlderOneIsNotAnError) {
  SenderOrder o;
  EXPECT_EQ(o.received("a", 1, 10), OrderOutcome::kInOrder);
  EXPECT_EQ(o.received("a", 2, 11), OrderOutcome::kInOrder);
  EXPECT_EQ(o.received("a", 1, 9), OrderOutcome::kOldSession);  // a straggler of session 1
  EXPECT_EQ(o.received("a", 2, 12), OrderOutcome::kInOrder);
  EXPECT_EQ(o.received("a", 2, 11), OrderOutcome::kReordered);
}

TEST(ChatSession, ParsesTheTagOrGivesZero) {
  EXPECT_EQ(chat_session("s1 #4 from bot-1"), 1u);
  EXPECT_EQ(chat_session("s42 hello"), 42u);
  EXPECT_EQ(chat_session("hello"), 0u);
  EXPECT_EQ(chat_session("s hello"), 0u);
  EXPECT_EQ(chat_session("s12"), 0u);
  EXPECT_EQ(chat_session("s1x"), 0u);
  EXPECT_EQ(chat_session(""), 0u);
  EXPECT_EQ(chat_session("s99999999999999999999999 x"), 0u);  // too long to be ours
}

TEST(LatencySamples, NearestRankPercentiles) {
  LatencySamples l;
  EXPECT_EQ(l.percentile(50), 0);
  for (int i = 100; i >= 1; --i) l.add(i);
  EXPECT_EQ(l.percentile(50), 50);
  EXPECT_EQ(l.percentile(90), 90);
  EXPECT_EQ(l.percentile(99), 99);
  EXPECT_EQ(l.max(), 100);
  EXPECT_EQ(l.percentile(0.1), 1);
  LatencySamples more;
  more.add(1000);
  l.merge(more);
  EXPECT_EQ(l.max(), 1000);
  EXPECT_EQ(l.size(), 101u);
  l.add(-5);  // a clock step: clamped, not negative
  EXPECT_EQ(l.percentile(0.5), 0);
}

}  // namespace
}  // namespace behavior::bot
