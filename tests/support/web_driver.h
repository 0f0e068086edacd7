// web_driver.h — headless Chromium driven over WebDriver (chromedriver's HTTP/JSON protocol,
// spoken by a small client here), for the browser tests (tests/e2e/browser_test.cpp and the
// https/wss one in tests/tls).
#pragma once

#include <behavior/options.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "net_util.h"

namespace behavior::testing {

inline const std::string kChromeDriver = "/usr/bin/chromedriver";
inline const std::string kChromium = "/usr/bin/chromium";
// WebDriver's key codes (W3C WebDriver, "Keyboard actions"), UTF-8.
inline const std::string kArrowLeft = "\xee\x80\x92";   // U+E012
inline const std::string kArrowRight = "\xee\x80\x94";  // U+E014
inline const std::string kEnter = "\xee\x80\x87";       // U+E007
inline constexpr const char* kElementKey = "element-6066-11e4-a52e-4f735466cecf";

inline std::string json_quote(const std::string& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return sb.GetString();
}

inline std::string json_text(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

// Every process whose command line mentions `needle` (our own browser's profile directory).
inline std::vector<pid_t> pids_mentioning(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(entry.path() / "cmdline", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    if (ss.str().find(needle) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

// chromedriver as a child process and one browser session, over WebDriver's HTTP/JSON.
class WebDriver {
 public:
  // tag: tells apart the profiles of several browsers in one test process.
  explicit WebDriver(const std::string& tag = "")
      : profile_("/tmp/behavior-browser-test-" + std::to_string(::getpid()) + (tag.empty() ? "" : "-" + tag)) {}
  ~WebDriver() { quit(); }

  static bool available() { return ::access(kChromeDriver.c_str(), X_OK) == 0 && ::access(kChromium.c_str(), X_OK) == 0; }

  // Starts chromedriver and a headless Chromium session; "" or what went wrong. extra_flags:
  // more Chromium switches ("--ignore-certificate-errors" for a self-signed pair).
  std::string start(const std::vector<std::string>& extra_flags = {}) {
    port_ = free_port();
    if (!driver_.start(kChromeDriver, {"--port=" + std::to_string(port_)})) return "chromedriver did not start";
    if (!driver_.wait_for_output("started successfully", Millis(20000))) return "chromedriver: " + driver_.output();
    std::string args;
    const std::vector<std::string> flags = {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                            "--window-size=1280,1024", "--user-data-dir=" + profile_};
    for (const std::string& a : extra_flags) {
      args += (args.empty() ? "" : ",") + json_quote(a);
    }
    for (const std::string& a : flags) {
      args += (args.empty() ? "" : ",") + json_quote(a);
    }
    std::string caps = R"({"capabilities":{"alwaysMatch":{"browserName":"chrome","goog:chromeOptions":{"binary":)" +
                       json_quote(kChromium) + R"(,"args":[)" + args + "]}}}}";
    rapidjson::Document d;
    if (std::string e = request("POST", "/session", caps, &d); !e.empty()) return e;
    const rapidjson::Value& v = d["value"];
    if (!v.IsObject() || !v.HasMember("sessionId") || !v["sessionId"].IsString()) return "no session id";
    session_ = "/session/" + std::string(v["sessionId"].GetString());
    return "";
  }

  void quit() {
    if (!session_.empty()) {
      rapidjson::Document d;
      request("DELETE", session_, "", &d);  // closes the browser
      session_.clear();
    }
    if (driver_.pid() > 0 && driver_.wait_exit(Millis(0)) == -1) {
      driver_.signal(SIGTERM);
      if (driver_.wait_exit(Millis(5000)) == -1) driver_.signal(SIGKILL);
      driver_.wait_exit(Millis(5000));
    }
    // Whatever of our browser outlived its driver (a test that failed half-way).
    for (pid_t p : pids_mentioning("--user-data-dir=" + profile_)) ::kill(p, SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(profile_, ec);
  }

  std::string navigate(const std::string& url) {
    rapidjson::Document d;
    return request("POST", session_ + "/url", "{\"url\":" + json_quote(url) + "}", &d);
  }

  // Runs `script` (a function body) in the page; its return value as text (strings as they
  // are, anything else as JSON), or nullopt with *error set.
  std::optional<std::string> execute(const std::string& script, std::string* error = nullptr) {
    rapidjson::Document d;
    std::string e = request("POST", session_ + "/execute/sync", "{\"script\":" + json_quote(script) + ",\"args\":[]}", &d);
    if (!e.empty()) {
      if (error) *error = e;
      return std::nullopt;
    }
    return json_text(d["value"]);
  }

  // The element's WebDriver id, or "".
  std::string find(const std::string& css) {
    rapidjson::Document d;
    std::string body = R"({"using":"css selector","value":)" + json_quote(css) + "}";
    if (!request("POST", session_ + "/element", body, &d).empty()) return "";
    const rapidjson::Value& v = d["value"];
    return v.IsObject() && v.HasMember(kElementKey) ? v[kElementKey].GetString() : "";
  }

  // Types `keys` into the element (focusing it first), as a user would.
  std::string send_keys(const std::string& element, const std::string& keys) {
    rapidjson::Document d;
    return request("POST", session_ + "/element/" + element + "/value", "{\"text\":" + json_quote(keys) + "}", &d);
  }

  std::string click(const std::string& element) {
    rapidjson::Document d;
    return request("POST", session_ + "/element/" + element + "/click", "{}", &d);
  }

  // The element's rendered text, or "".
  std::string text(const std::string& element) {
    rapidjson::Document d;
    if (!request("GET", session_ + "/element/" + element + "/text", "", &d).empty()) return "";
    return json_text(d["value"]);
  }

  std::string driver_output() { return driver_.output(); }

 private:
  // One request on its own connection; "" on success, else the WebDriver error.
  std::string request(const std::string& method, const std::string& path, const std::string& body,
                      rapidjson::Document* out) {
    HttpClient http(port_);
    if (!http.connected()) return "cannot connect to chromedriver";
    timeval tv{90, 0};  // a new session starts a browser: slow on a loaded machine
    ::setsockopt(http.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    HttpReply r = http.request(method, path, method == "POST" ? body : "");
    if (r.status == 0) return method + " " + path + ": no answer from chromedriver";
    if (out->Parse(r.body.c_str()).HasParseError() || !out->IsObject() || !out->HasMember("value")) {
      return method + " " + path + ": not WebDriver JSON: " + r.body;
    }
    if (r.status != 200) return method + " " + path + ": " + std::to_string(r.status) + " " + r.body;
    return "";
  }

  std::string profile_;
  ChildProcess driver_;
  int port_ = 0;
  std::string session_;
};

}  // namespace behavior::testing
