// fuzz_http_request.cpp — libFuzzer target for the HTTP request parser the metrics port and
// the name server use: any bytes, split at a point taken from the input, either give
// requests within the limits or a 400/413/431 error.
#include <cstddef>
#include <cstdint>

#include <behavior/http_request_parser.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  behavior::HttpLimits limits;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 2048;
  behavior::HttpRequestParser p(limits);
  auto on = [&](behavior::HttpRequest&& r, bool keep_alive) {
    if (r.body.size() > limits.max_body_bytes) __builtin_trap();
    return keep_alive;
  };
  size_t split = size ? data[0] % (size + 1) : 0;
  const char* in = reinterpret_cast<const char*>(data);
  auto err = p.feed(in, split, on);
  if (!err && !p.stopped()) err = p.feed(in + split, size - split, on);
  if (err && err->status != 400 && err->status != 413 && err->status != 431) __builtin_trap();
  return 0;
}
