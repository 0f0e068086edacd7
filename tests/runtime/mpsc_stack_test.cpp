// mpsc_stack_test.cpp — the cross-thread queue: with several producers racing one
// consumer, every node arrives exactly once and each producer's nodes stay in order.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "behavior/mpsc_stack.h"

namespace behavior::detail {
namespace {

struct Node {
  int producer;
  int seq;
  std::atomic<Node*> next{nullptr};
};

TEST(MpscStack, EveryNodeArrivesOnceAndInPerProducerOrder) {
  constexpr int kProducers = 4, kEach = 50000;
  MpscStack<Node, &Node::next> q;
  std::vector<std::unique_ptr<Node[]>> nodes;
  for (int p = 0; p < kProducers; ++p) {
    nodes.emplace_back(new Node[kEach]);
    for (int i = 0; i < kEach; ++i) {
      nodes[p][i].producer = p;
      nodes[p][i].seq = i;
    }
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) q.push(&nodes[p][i]);
    });
  }
  std::vector<int> next(kProducers, 0);
  int received = 0;
  while (received < kProducers * kEach) {
    for (Node* n = q.take_all(); n; n = n->next.load(std::memory_order_relaxed)) {
      ASSERT_EQ(n->seq, next[n->producer]) << "producer " << n->producer;
      ++next[n->producer];
      ++received;
    }
  }
  for (auto& t : producers) t.join();
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace behavior::detail
