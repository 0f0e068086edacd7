// http_request_parser.h — cuts a byte stream into HTTP/1.1 requests (http-parser underneath),
// enforcing hard limits on header and body size. No sockets: the HTTP server feeds it what it
// reads, the tests and the fuzzer feed it anything. After an error it accepts nothing more.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "behavior/http_types.h"

namespace behavior {

class HttpRequestParser {
 public:
  struct Error {
    int status;  // what to answer: 400, 413 or 431
    std::string message;
  };
  // Gets each complete request and whether the connection may stay open after it; returns
  // false to stop parsing (e.g. after a request that closes the connection).
  using OnRequest = std::function<bool(HttpRequest&& request, bool keep_alive)>;

  explicit HttpRequestParser(const HttpLimits& limits);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  std::optional<Error> feed(const char* data, size_t n, const OnRequest& on_request);
  bool stopped() const { return stopped_; }
  // Bytes of the last feed() that were parsed: when the callback stopped the parsing, what
  // follows the request it stopped at (a WebSocket's first frames after its upgrade).
  size_t consumed() const { return consumed_; }

  struct State;  // http-parser and the request in progress (http_request_parser.cpp)

 private:
  std::unique_ptr<State> s_;
  bool stopped_ = false;
  size_t consumed_ = 0;
};

}  // namespace behavior
