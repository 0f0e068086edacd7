// browser_tls_test.cpp — the demo game's page in headless Chromium over https, its socket
// over wss: a LocalCluster with `tls` (self-signed pair; Chromium told to accept it), the page
// logs in and joins a room by itself, and a client library player over wss in the same room
// sees it, and the page shows that player. Skipped when chromium or chromedriver is missing.
#include <behavior/game_client.h>
#include <behavior/message.h>
#include <gtest/gtest.h>

#include "game.pb.h"
#include "local_cluster_test.h"
#include "test_support.h"
#include "web_driver.h"

namespace behavior::testing {
namespace {

namespace gpb = behavior::game;

TEST(BrowserTls, ThePagePlaysOverHttpsAndWss) {
  if (!WebDriver::available()) GTEST_SKIP() << "chromedriver or chromium is not installed (tools/install_deps.sh)";
  tools::LocalClusterOptions o = LocalClusterTest::options(1, 1);
  o.tls = true;
  tools::LocalCluster cluster(o);
  Status started = cluster.start();
  ASSERT_TRUE(started.ok()) << started.to_string();
  auto trust = TlsContext::client(cluster.tls_cert(), false);
  ASSERT_TRUE(trust.ok());

  const std::string room = "tls-" + std::to_string(::getpid());
  const std::string web = "webtls", other = "wssbot";
  {
    WebDriver wd;
    ASSERT_EQ(wd.start({"--ignore-certificate-errors"}), "") << wd.driver_output();
    const std::string url = cluster.name_server_url() + "/play?user=" + web + "&room=" + room + "&autoplay=1";
    ASSERT_EQ(url.rfind("https://", 0), 0u);
    ASSERT_EQ(wd.navigate(url), "");
    std::string phase;
    EXPECT_TRUE(wait_until([&] {
      phase = wd.execute("return window.game.state.phase").value_or("");
      return phase == "in-room";
    }, Millis(20000))) << phase << " | "
                       << wd.execute("return document.getElementById('status').textContent + ' | ' + "
                                     "document.getElementById('log').textContent").value_or("");
    EXPECT_EQ(wd.execute("return location.protocol"), "https:");

    // Another player over wss, in the same room: the browser's player is there.
    Result<LoginResult> l = login("127.0.0.1", cluster.name_server_port(), other, "", Millis(5000), trust->get());
    ASSERT_TRUE(l.ok()) << l.status().to_string();
    ASSERT_FALSE(l->gateway_wss.empty());
    auto c = GameClient::connect(GameClient::Transport::kWebSocket, l->gateway_wss, Millis(5000), trust->get());
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    ASSERT_TRUE((*c)->auth(l->ticket).ok());
    gpb::JoinRoom join;
    join.set_room(room);
    ASSERT_TRUE((*c)->send(gpb::JOIN_ROOM, join.SerializeAsString()).ok());
    bool seen = false;
    for (int i = 0; i < 50 && !seen; ++i) {
      Result<ClientFrame> f = (*c)->receive(Millis(200));
      gpb::Joined joined;
      if (f.ok() && f->proto_id == gpb::JOINED && joined.ParseFromString(f->body)) {
        for (const auto& p : joined.players()) seen = seen || p.user() == web;
        break;
      }
    }
    EXPECT_TRUE(seen) << "the wss player's JOINED does not list the browser's player";
    // ... and the page, over its wss socket, sees the new player.
    const std::string players = wd.find("#players");
    ASSERT_NE(players, "");
    std::string shown;
    EXPECT_TRUE(wait_until([&] {
      shown = wd.text(players);
      return shown.find(other + " ") != std::string::npos;
    }, Millis(10000))) << shown;
    EXPECT_EQ(wd.execute("return window.game.state.errors.join('; ')"), "");
    (*c)->close();
    wd.quit();
  }
  EXPECT_TRUE(cluster.stop()) << "logs in " << cluster.log_dir();
}

}  // namespace
}  // namespace behavior::testing
