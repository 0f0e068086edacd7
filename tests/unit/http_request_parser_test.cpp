// http_request_parser_test.cpp — requests cut from any split of the stream, pipelining,
// stop after a closing request, and the limits: huge headers (431), big or lying bodies
// (413/400), garbage (400).
#include <gtest/gtest.h>

#include <behavior/http_request_parser.h>

#include <vector>

namespace behavior {
namespace {

struct Collected {
  std::vector<HttpRequest> requests;
  std::vector<bool> keep_alive;
  std::optional<HttpRequestParser::Error> error;
};

Collected parse(const std::string& stream, size_t chunk = 0, HttpLimits limits = {}) {
  HttpRequestParser p(limits);
  Collected c;
  auto on = [&](HttpRequest&& r, bool ka) {
    c.requests.push_back(std::move(r));
    c.keep_alive.push_back(ka);
    return ka;
  };
  if (chunk == 0) chunk = stream.size() ? stream.size() : 1;
  for (size_t off = 0; off < stream.size() && !c.error && !p.stopped(); off += chunk) {
    c.error = p.feed(stream.data() + off, std::min(chunk, stream.size() - off), on);
  }
  return c;
}

const std::string kLogin =
    "POST /v1/login?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
    "{\"user\":\"u\"}\n";

TEST(HttpRequestParser, ParsesARequestSplitAnywhere) {
  for (size_t chunk : {1u, 2u, 7u, 0u}) {
    Collected c = parse(kLogin, chunk);
    ASSERT_FALSE(c.error) << chunk;
    ASSERT_EQ(c.requests.size(), 1u);
    EXPECT_EQ(c.requests[0].method, "POST");
    EXPECT_EQ(c.requests[0].path, "/v1/login");
    EXPECT_EQ(c.requests[0].query, "x=1");
    EXPECT_EQ(c.requests[0].headers.at("content-type"), "application/json");
    EXPECT_EQ(c.requests[0].body, "{\"user\":\"u\"}\n");
    EXPECT_TRUE(c.keep_alive[0]);
  }
}

TEST(HttpRequestParser, PipelinedRequestsComeOutInOrder) {
  Collected c = parse("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n" + kLogin);
  ASSERT_FALSE(c.error);
  ASSERT_EQ(c.requests.size(), 3u);
  EXPECT_EQ(c.requests[0].path, "/a");
  EXPECT_EQ(c.requests[1].path, "/b");
  EXPECT_EQ(c.requests[2].path, "/v1/login");
}

TEST(HttpRequestParser, NothingIsParsedAfterARequestThatClosesTheConnection) {
  Collected c = parse("GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
  ASSERT_FALSE(c.error);
  ASSERT_EQ(c.requests.size(), 1u);
  EXPECT_FALSE(c.keep_alive[0]);
}

TEST(HttpRequestParser, HugeHeadersAre431) {
  std::string req = "GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  Collected c = parse(req, 1000);
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.error->status, 431);
  EXPECT_TRUE(c.requests.empty());
}

TEST(HttpRequestParser, BodiesOverTheLimitAre413EvenWhenAnnounced) {
  HttpLimits limits;
  limits.max_body_bytes = 10;
  Collected announced = parse("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", 0, limits);
  ASSERT_TRUE(announced.error);
  EXPECT_EQ(announced.error->status, 413);
  Collected chunked = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + std::string(32, 'x') + "\r\n0\r\n\r\n", 0, limits);
  ASSERT_TRUE(chunked.error);
  EXPECT_EQ(chunked.error->status, 413);
}

TEST(HttpRequestParser, MalformedInputIs400) {
  for (std::string bad : {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                          std::string("\x00\x01\x02", 3)}) {
    Collected c = parse(bad);
    ASSERT_TRUE(c.error) << bad;
    EXPECT_EQ(c.error->status, 400) << bad;
  }
}

TEST(HttpRequestParser, AfterAnErrorNothingMoreIsAccepted) {
  HttpRequestParser p{HttpLimits{}};
  int n = 0;
  auto on = [&](HttpRequest&&, bool) { return ++n, true; };
  EXPECT_TRUE(p.feed("BAD\r\n\r\n", 7, on));
  std::string good = "GET / HTTP/1.1\r\n\r\n";
  EXPECT_FALSE(p.feed(good.data(), good.size(), on));
  EXPECT_EQ(n, 0);
}

TEST(HttpRequestParser, StoppingAtARequestTellsWhereItsBytesEnd) {
  HttpRequestParser p{HttpLimits{}};
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const std::string stream = upgrade + "\x82\x85" "frame";
  int requests = 0;
  auto error = p.feed(stream.data(), stream.size(), [&](HttpRequest&&, bool) {
    ++requests;
    return false;
  });
  EXPECT_FALSE(error.has_value());
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(p.consumed(), upgrade.size());
  const std::string plain = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  HttpRequestParser q{HttpLimits{}};
  const std::string two = plain + plain;
  (void)q.feed(two.data(), two.size(), [&](HttpRequest&&, bool) { return false; });
  EXPECT_EQ(q.consumed(), plain.size());
}

}  // namespace
}  // namespace behavior
