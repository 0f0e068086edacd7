// http_request_parser.cpp — see http_request_parser.h. http-parser's callbacks fill the
// request in progress; on message complete it is handed out. A callback returning non-zero
// stops http-parser: that is how limits and "stop after this request" take effect.
#include "behavior/http_request_parser.h"

#include <http_parser.h>

#include <algorithm>
#include <cctype>
#include <climits>

namespace behavior {

struct HttpRequestParser::State {
  HttpLimits limits;
  http_parser parser{};
  HttpRequest req;
  std::string url;
  std::string field;
  bool value_started = false;
  size_t header_bytes = 0;
  int error_status = 400;
  bool stop_requested = false;
  const OnRequest* on_request = nullptr;

  bool count_header(size_t n) {
    header_bytes += n;
    if (header_bytes > limits.max_header_bytes) {
      error_status = 431;
      return false;
    }
    return true;
  }
};

namespace {

using State = HttpRequestParser::State;

State* state(http_parser* p) { return static_cast<State*>(p->data); }

http_parser_settings make_settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = [](http_parser* p) {
    State* st = state(p);
    st->req = HttpRequest();
    st->url.clear();
    st->field.clear();
    st->value_started = false;
    st->header_bytes = 0;
    return 0;
  };
  s.on_url = [](http_parser* p, const char* at, size_t n) {
    State* st = state(p);
    st->url.append(at, n);
    return st->count_header(n) ? 0 : 1;
  };
  s.on_header_field = [](http_parser* p, const char* at, size_t n) {
    State* st = state(p);
    if (st->value_started) {
      st->field.clear();
      st->value_started = false;
    }
    st->field.append(at, n);
    return st->count_header(n) ? 0 : 1;
  };
  s.on_header_value = [](http_parser* p, const char* at, size_t n) {
    State* st = state(p);
    std::string name = st->field;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    st->req.headers[name].append(at, n);
    st->value_started = true;
    return st->count_header(n) ? 0 : 1;
  };
  s.on_headers_complete = [](http_parser* p) {
    State* st = state(p);
    if (p->content_length != ULLONG_MAX && p->content_length > st->limits.max_body_bytes) {
      st->error_status = 413;
      return -1;
    }
    return 0;
  };
  s.on_body = [](http_parser* p, const char* at, size_t n) {
    State* st = state(p);
    if (st->req.body.size() + n > st->limits.max_body_bytes) {
      st->error_status = 413;
      return 1;
    }
    st->req.body.append(at, n);
    return 0;
  };
  s.on_message_complete = [](http_parser* p) {
    State* st = state(p);
    st->req.method = http_method_str(static_cast<http_method>(p->method));
    auto q = st->url.find('?');
    st->req.path = st->url.substr(0, q);
    st->req.query = q == std::string::npos ? "" : st->url.substr(q + 1);
    bool keep_alive = http_should_keep_alive(p) != 0;
    if (!(*st->on_request)(std::move(st->req), keep_alive)) {
      st->stop_requested = true;
      return 1;
    }
    return 0;
  };
  return s;
}

const http_parser_settings& settings() {
  static const http_parser_settings s = make_settings();
  return s;
}

const char* phrase(int status) {
  switch (status) {
    case 413: return "payload too large";
    case 431: return "request header fields too large";
    default: return "malformed request";
  }
}

}  // namespace

HttpRequestParser::HttpRequestParser(const HttpLimits& limits) : s_(std::make_unique<State>()) {
  s_->limits = limits;
  http_parser_init(&s_->parser, HTTP_REQUEST);
  s_->parser.data = s_.get();
}

HttpRequestParser::~HttpRequestParser() = default;

std::optional<HttpRequestParser::Error> HttpRequestParser::feed(const char* data, size_t n, const OnRequest& on_request) {
  if (stopped_) return std::nullopt;
  s_->on_request = &on_request;
  size_t done = http_parser_execute(&s_->parser, &settings(), data, n);
  s_->on_request = nullptr;
  consumed_ = done;
  if (s_->stop_requested) {
    stopped_ = true;
    return std::nullopt;
  }
  auto err = static_cast<http_errno>(s_->parser.http_errno);
  if (err != HPE_OK || done != n) {
    stopped_ = true;
    int status = s_->error_status;
    std::string message = status == 400 ? std::string(http_errno_description(err)) : phrase(status);
    return Error{status, message};
  }
  return std::nullopt;
}

}  // namespace behavior
