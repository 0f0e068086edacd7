// admin_http.h — the name server's admin API as ctl uses it (POST/DELETE /v1/nodes/{id}/drain
// with a bearer token), over a small blocking HTTP/1.1 client (HTTPS for an https:// URL);
// plus a TCP dial with deadline.
#pragma once

#include <behavior/options.h>
#include <behavior/status.h>
#include <behavior/tls.h>

#include <string>

namespace behavior::ctl {

// A connected blocking socket to host:port (IPv4 or a name), or why not, within `timeout`.
Result<int> dial_tcp(const std::string& host, int port, Millis timeout);

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// `url`: http[s]://host[:port][/base]. One request with Connection: close. https: TLS with
// `tls` (a client context; nullptr: the system's trust store), the name checked being host.
Result<HttpAnswer> http_request(const std::string& url, const std::string& method, const std::string& path,
                                const std::string& bearer_token, Millis timeout, const TlsContext* tls = nullptr);

// POST (on) or DELETE (off) <url>/v1/nodes/<id>/drain. Errors carry the server's message
// ({"code", "message"}) and status: 401/403 → kUnauthenticated, 404 → kNotFound.
Status set_drain(const std::string& url, uint16_t node, bool on, const std::string& admin_token, Millis timeout,
                 const TlsContext* tls = nullptr);

}  // namespace behavior::ctl
