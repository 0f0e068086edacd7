// wakeup.cpp — see wakeup.h.
#include "wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>

namespace behavior::detail {

void Wakeup::open(uv_loop_t* loop) {
  fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) {
    std::perror("eventfd");
    std::abort();  // a worker that cannot be woken cannot run
  }
  uv_poll_init(loop, &poll_, fd_);
  poll_.data = this;
  uv_poll_start(&poll_, UV_READABLE, &Wakeup::on_readable);
}

void Wakeup::close() {
  uv_poll_stop(&poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
    auto* self = static_cast<Wakeup*>(h->data);
    ::close(self->fd_);
    self->fd_ = -1;
  });
}

void Wakeup::signal() {
  uint64_t one = 1;
  // EAGAIN (the counter is full) still leaves it readable: the wake-up is not lost.
  ssize_t n = ::write(fd_, &one, sizeof one);
  (void)n;
}

void Wakeup::on_readable(uv_poll_t* handle, int, int) {
  auto* self = static_cast<Wakeup*>(handle->data);
  uint64_t count;
  ssize_t n = ::read(self->fd_, &count, sizeof count);  // resets it; EAGAIN: already read
  (void)n;
}

}  // namespace behavior::detail
