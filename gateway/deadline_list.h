// deadline_list.h — connections waiting for a deadline, in deadline order without a heap:
// every entry of one list has the same timeout, so appending keeps the order and a sweep
// looks only at the head. An entry (a Session) is in at most one list at a time.
#pragma once

#include <cstdint>

namespace behavior::gateway {

template <class T>
class DeadlineList {
 public:
  // What an entry carries (a member named `deadline_entry` of T).
  struct Entry {
    int64_t deadline = 0;  // loop ms
    DeadlineList* list = nullptr;
    T* prev = nullptr;
    T* next = nullptr;
  };

  explicit DeadlineList(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}

  // (Re)starts t's deadline in this list, taking it out of any other.
  void add(T* t, int64_t now) {
    Entry& e = t->deadline_entry;
    e.deadline = now + timeout_ms_;
    if (e.list == this && tail_ == t) return;
    remove(t);
    e.prev = tail_;
    e.next = nullptr;
    (tail_ ? tail_->deadline_entry.next : head_) = t;
    tail_ = t;
    e.list = this;
  }

  // Takes t out of whichever list holds it.
  static void remove(T* t) {
    Entry& e = t->deadline_entry;
    if (!e.list) return;
    DeadlineList& l = *e.list;
    (e.prev ? e.prev->deadline_entry.next : l.head_) = e.next;
    (e.next ? e.next->deadline_entry.prev : l.tail_) = e.prev;
    e.prev = e.next = nullptr;
    e.list = nullptr;
  }

  // The first entry whose deadline has passed, taken out of the list; nullptr when none.
  T* pop_expired(int64_t now) {
    if (!head_ || head_->deadline_entry.deadline > now) return nullptr;
    T* t = head_;
    remove(t);
    return t;
  }

 private:
  int64_t timeout_ms_;
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace behavior::gateway
