// read_stream.h — the one libuv read loop every stream reader here shares (s2s links, HTTP
// connections, the gateway's client sockets). The reader is the stream's `data`; it hands
// libuv the buffer to read into (its own, or one per loop) and takes each result as one call:
// bytes (n > 0), or the end of the stream (n == UV_EOF) or an error (other n < 0).
#pragma once

#include <uv.h>

namespace behavior {

// Reader: uv_buf_t read_buffer(); void on_read(const char* data, ssize_t n).
template <class Reader>
int read_stream(uv_stream_t* stream) {
  return uv_read_start(
      stream, [](uv_handle_t* h, size_t, uv_buf_t* buf) { *buf = static_cast<Reader*>(h->data)->read_buffer(); },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        if (n != 0) static_cast<Reader*>(s->data)->on_read(buf->base, n);  // 0: nothing now (EAGAIN)
      });
}

}  // namespace behavior
