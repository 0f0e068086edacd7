// browser_test.cpp — the demo game's browser client (name_server/play/index.html) in headless
// Chromium, driven over WebDriver (chromedriver's HTTP/JSON protocol, spoken by a small client
// here), against a whole local cluster (LocalCluster: redis-server, name_server, a gateway, two
// local_servers) and a bot playing in the same room over TCP with the C++ client library.
#include <behavior/game_client.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

#include "child_process.h"
#include "game.pb.h"
#include "web_driver.h"
#include "local_cluster.h"
#include "net_util.h"
#include <behavior/system.pb.h>
#include "test_support.h"

namespace behavior::testing {
namespace {

namespace gpb = behavior::game;

// Polls a page expression until it gives `want` (or the deadline passes); the last value.
std::string wait_for_page(WebDriver& wd, const std::string& script, const std::string& want,
                          Millis timeout = Millis(20000)) {
  std::string last;
  wait_until(
      [&] {
        std::string error;
        last = wd.execute(script, &error).value_or("<" + error + ">");
        return last == want;
      },
      timeout);
  return last;
}

// ---------------------------------------------------------------------------------------
// The page's protobuf codec against libprotobuf: no cluster, the page opened from its file.

TEST(BrowserCodec, PageEncodesAndDecodesLikeLibprotobuf) {
  if (!WebDriver::available()) GTEST_SKIP() << "chromedriver or chromium is not installed (tools/install_deps.sh)";
  WebDriver wd;
  ASSERT_EQ(wd.start(), "") << wd.driver_output();
  ASSERT_EQ(wd.navigate("file://" + std::string(BEHAVIOR_SOURCE_DIR) + "/name_server/play/index.html"), "");
  ASSERT_EQ(wait_for_page(wd, "return typeof window.game", "object"), "object");

  gpb::Joined joined;
  joined.set_room("lobby");
  joined.set_width(40);
  joined.set_height(30);
  const std::vector<std::tuple<const char*, int, int, int>> states = {
      {"alice", 3, -7, 2}, {"b\xc3\xa9", 0, 2147483647, 0}, {"c", -2147483647 - 1, 0, 9}};
  for (auto [user, x, y, score] : states) {
    gpb::PlayerState* p = joined.add_players();
    p->set_user(user);
    p->set_x(x);
    p->set_y(y);
    p->set_score(score);
  }
  joined.set_coin_x(5);
  joined.set_node("node 2");
  gpb::Move move;
  move.set_x(-1);
  move.set_y(300);
  move.set_seq((uint64_t{1} << 53) - 1);

  auto hex = [](const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) out += "0123456789abcdef"[c >> 4], out += "0123456789abcdef"[c & 15];
    return out;
  };
  const std::string to_hex = "const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');";
  // Encoding: the same bytes as libprotobuf.
  EXPECT_EQ(wd.execute(to_hex + R"(const pb = window.game.pb;
      return hex(pb.encode(pb.SCHEMA.Joined, {room: "lobby", width: 40, height: 30, coin_x: 5, coin_y: 0, node: "node 2",
        players: [{user: "alice", x: 3, y: -7, score: 2}, {user: "b\u00e9", x: 0, y: 2147483647, score: 0},
                  {user: "c", x: -2147483648, y: 0, score: 9}]}));)"),
            hex(joined.SerializeAsString()));
  EXPECT_EQ(wd.execute(to_hex + "const pb = window.game.pb; return hex(pb.encode(pb.SCHEMA.Move, {x: -1, y: 300, seq: 2 ** 53 - 1}));"),
            hex(move.SerializeAsString()));
  // Decoding libprotobuf's bytes (an unknown field added, which must be skipped).
  std::string bytes = joined.SerializeAsString() + std::string("\x48\x96\x01", 3);  // field 9, varint 150
  EXPECT_EQ(wd.execute(R"(const pb = window.game.pb; const h = ")" + hex(bytes) + R"(";
      const b = new Uint8Array(h.length / 2).map((_, i) => parseInt(h.substr(2 * i, 2), 16));
      const j = pb.decode(pb.SCHEMA.Joined, b);
      return j.players.map((p) => p.user + " " + p.x + "," + p.y + " " + p.score).join(";") + "|" +
             [j.room, j.width, j.height, j.coin_x, j.coin_y, j.node].join(" ");)"),
            "alice 3,-7 2;b\xc3\xa9 0,2147483647 0;c -2147483648,0 9|lobby 40 30 5 0 node 2");
  // Malformed bodies throw (and the page reports them) instead of producing garbage.
  EXPECT_EQ(wd.execute(R"(const pb = window.game.pb;
      try { pb.decode(pb.SCHEMA.Joined, new Uint8Array([0x0a, 0x05, 0x41])); return "parsed"; }
      catch (e) { return "refused"; })"),
            "refused");
}

// ---------------------------------------------------------------------------------------
// The browser plays against a bot on a whole local cluster.

class BrowserGameTest : public ::testing::Test {
 protected:
  static constexpr int kGatewayIdleMs = 2500;  // the page (and the bot) must heartbeat to stay connected

  void SetUp() override {
    if (!WebDriver::available()) GTEST_SKIP() << "chromedriver or chromium is not installed (tools/install_deps.sh)";
    tools::LocalClusterOptions o;
    o.bin_dir = BEHAVIOR_BIN_DIR;
    o.local_servers = 2;
    o.gateways = 1;
    o.log_level = "debug";
    o.gateway_args = {"--idle-timeout-ms", std::to_string(kGatewayIdleMs)};
    cluster_ = std::make_unique<tools::LocalCluster>(o);
    Status s = cluster_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
    http_port_ = cluster_->name_server_port();
  }

  void TearDown() override {
    bot_.reset();
    if (!cluster_) return;
    EXPECT_TRUE(cluster_->stop()) << "a service did not stop cleanly; logs in " << cluster_->log_dir();
    if (!HasFailure()) {
      std::error_code ec;
      std::filesystem::remove_all(cluster_->log_dir(), ec);  // kept only to explain a failure
    }
  }

  // The bot heartbeats too (the gateway's idle timeout is short here): every wait calls this.
  void beat() {
    auto now = std::chrono::steady_clock::now();
    if (!bot_ || now - last_beat_ < Millis(kGatewayIdleMs / 5)) return;
    last_beat_ = now;
    EXPECT_TRUE(bot_->send(proto::kHeartbeat, "bot").ok());
  }

  // Reads the bot's frames until `pred` accepts one (true) or the deadline passes (false).
  bool bot_until(const std::function<bool(const ClientFrame&)>& pred, Millis timeout = Millis(10000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      beat();
      Result<ClientFrame> f = bot_->receive(Millis(kGatewayIdleMs / 5));
      if (!f.ok()) {
        if (f.status().code() == Code::kTimeout) continue;
        ADD_FAILURE() << "bot connection: " << f.status().to_string() << "; last error or kick: " << bot_problem_;
        return false;
      }
      if (f->proto_id == proto::kError || f->proto_id == proto::kKick) {
        pb::ErrorFrame e;
        bot_problem_ = f->proto_id == proto::kKick ? "kick: " + f->body
                       : e.ParseFromString(f->body) ? "error " + std::to_string(e.code()) + ": " + e.message()
                                                    : "error frame";
      }
      if (pred(*f)) return true;
    }
    return false;
  }

  // wait_until, with the bot's heartbeats.
  bool wait(const std::function<bool()>& pred, Millis timeout = Millis(10000)) {
    return wait_until([&] {
      beat();
      return pred();
    }, timeout);
  }

  // Polls a page expression until it gives `want` (or the deadline passes); the last value.
  std::string page_until(WebDriver& wd, const std::string& script, const std::string& want,
                         Millis timeout = Millis(20000)) {
    std::string last;
    wait([&] {
      std::string error;
      last = wd.execute(script, &error).value_or("<" + error + ">");
      return last == want;
    }, timeout);
    return last;
  }

  std::unique_ptr<tools::LocalCluster> cluster_;
  int http_port_ = 0;
  std::unique_ptr<GameClient> bot_;
  std::string bot_problem_;
  std::chrono::steady_clock::time_point last_beat_;
};

TEST_F(BrowserGameTest, BrowserAndBotSeeEachOtherMoveAndChat) {
  const std::string room = "browser-" + std::to_string(::getpid());
  const std::string web = "webplayer", bot_name = "botplayer";

  // The page, served by the name server, logs in, connects and joins the room by itself.
  WebDriver wd;
  ASSERT_EQ(wd.start(), "") << wd.driver_output();
  const std::string url = "http://127.0.0.1:" + std::to_string(http_port_) + "/play?user=" + web + "&room=" + room +
                          "&autoplay=1&heartbeat_ms=300";
  ASSERT_EQ(wd.navigate(url), "");
  ASSERT_EQ(page_until(wd, "return window.game.state.phase", "in-room"), "in-room")
      << wd.execute("return document.getElementById('status').textContent + ' | ' + "
                    "document.getElementById('log').textContent").value_or("");

  // The bot: logged in through the name server, on the gateway over TCP, in the same room,
  // where it finds the browser's player.
  Result<LoginResult> l = login("127.0.0.1", http_port_, bot_name);
  ASSERT_TRUE(l.ok()) << l.status().to_string();
  auto connected = GameClient::connect(GameClient::Transport::kTcp, l->gateway_tcp);
  ASSERT_TRUE(connected.ok()) << connected.status().to_string();
  bot_ = std::move(*connected);
  GameClient& bot = *bot_;
  ASSERT_TRUE(bot.auth(l->ticket).ok());
  gpb::JoinRoom join;
  join.set_room(room);
  ASSERT_TRUE(bot.send(gpb::JOIN_ROOM, join.SerializeAsString()).ok());
  gpb::Joined joined;
  ASSERT_TRUE(bot_until([&](const ClientFrame& f) {
    return f.proto_id == gpb::JOINED && joined.ParseFromString(f.body);
  })) << "the bot got no JOINED for room " << room;
  const int width = joined.width(), height = joined.height();
  ASSERT_GT(width, 2);
  ASSERT_GT(height, 2);
  gpb::PlayerState entered;
  for (const gpb::PlayerState& p : joined.players()) {
    if (p.user() == web) entered = p;
  }
  ASSERT_EQ(entered.user(), web) << "the browser's player is not in the bot's JOINED";

  // The page shows both players, as "name x,y score".
  const std::string players = wd.find("#players");
  ASSERT_NE(players, "");
  std::string shown;
  EXPECT_TRUE(wait([&] {
    shown = wd.text(players);
    return shown.find(bot_name + " ") != std::string::npos &&
           shown.find(web + " " + std::to_string(entered.x()) + "," + std::to_string(entered.y())) != std::string::npos;
  }, Millis(10000))) << shown;

  // A key press on the map: the bot sees the browser's player one cell over.
  const std::string map = wd.find("#map");
  ASSERT_NE(map, "");
  const bool right = entered.x() + 1 < width;
  const int tx = entered.x() + (right ? 1 : -1), ty = entered.y();
  if (std::string e = wd.send_keys(map, right ? kArrowRight : kArrowLeft); !e.empty()) {
    ADD_FAILURE() << "chromedriver refused the key press (moving through window.game instead): " << e;
    wd.execute("window.game.move(" + std::to_string(tx) + "," + std::to_string(ty) + ")");
  }
  auto position_of = [&](int x, int y, int slack) {
    return [&web, x, y, slack](const ClientFrame& f) {
      gpb::Position p;
      return f.proto_id == gpb::POSITION && p.ParseFromString(f.body) && p.user() == web &&
             std::abs(p.x() - x) <= slack && std::abs(p.y() - y) <= slack;
    };
  };
  EXPECT_TRUE(bot_until(position_of(tx, ty, 0))) << "the bot saw no POSITION " << web << " " << tx << "," << ty;
  // ... and so does the page itself.
  EXPECT_EQ(page_until(wd, "const p = window.game.me(); return p ? p.x + ',' + p.y : 'none'",
                          std::to_string(tx) + "," + std::to_string(ty)),
            std::to_string(tx) + "," + std::to_string(ty));

  // A click on the map moves to the clicked cell: WebDriver clicks the element's centre.
  ASSERT_EQ(wd.click(map), "");
  EXPECT_TRUE(bot_until(position_of(width / 2, height / 2, 1)))
      << "the bot saw no POSITION near the map's centre after a click";

  // The bot's chat shows up in the page's chat box.
  gpb::Chat chat;
  chat.set_text("hello from the bot <b>&</b>");
  chat.set_seq(1);
  ASSERT_TRUE(bot.send(gpb::CHAT, chat.SerializeAsString()).ok());
  const std::string chat_box = wd.find("#chat");
  ASSERT_NE(chat_box, "");
  std::string chat_text;
  EXPECT_TRUE(wait([&] {
    chat_text = wd.text(chat_box);
    return chat_text.find(bot_name + ": hello from the bot <b>&</b>") != std::string::npos;
  }, Millis(10000))) << chat_text;

  // The browser's chat, typed into the box and sent with Enter, reaches the bot.
  const std::string input = wd.find("#chat-text");
  ASSERT_NE(input, "");
  ASSERT_EQ(wd.send_keys(input, "hi bot" + kEnter), "");
  EXPECT_TRUE(bot_until([&](const ClientFrame& f) {
    gpb::ChatMessage m;
    return f.proto_id == gpb::CHAT_MESSAGE && m.ParseFromString(f.body) && m.from() == web && m.text() == "hi bot";
  })) << "the bot got no CHAT_MESSAGE from " << web;

  // Heartbeats: the gateway cuts a connection silent for kGatewayIdleMs; the page idles for
  // longer than that and is still connected (a closed socket would show at once).
  const auto quiet_until = std::chrono::steady_clock::now() + Millis(kGatewayIdleMs + 1000);
  bool still = true;
  wait([&] {
    still = wd.execute("return String(window.game.connected)").value_or("") == "true";
    return !still || std::chrono::steady_clock::now() >= quiet_until;
  }, Millis(4 * kGatewayIdleMs));
  EXPECT_TRUE(still) << wd.execute("return document.getElementById('status').textContent").value_or("");
  EXPECT_EQ(wd.execute("return window.game.state.errors.join('; ')"), "");

  // Reconnect: a new login and ticket, the same player, back in the room where it was.
  const std::string reconnect = wd.find("#reconnect");
  ASSERT_NE(reconnect, "");
  ASSERT_EQ(wd.execute("return String(window.game.state.connections)"), "1");
  ASSERT_EQ(wd.click(reconnect), "");
  EXPECT_EQ(page_until(wd, "const g = window.game; return g.state.connections + ' ' + g.state.phase + ' ' + g.connected",
                       "2 in-room true"),
            "2 in-room true");
  EXPECT_TRUE(bot_until([&](const ClientFrame& f) {
    gpb::PlayerState p;
    return f.proto_id == gpb::PLAYER_JOINED && p.ParseFromString(f.body) && p.user() == web;
  })) << "the bot did not see " << web << " come back";
  wd.quit();
  bot_.reset();
}

}  // namespace
}  // namespace behavior::testing
