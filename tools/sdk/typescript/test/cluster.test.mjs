// @behavior/client against a real cluster (build/bin/launch --bots 0: redis-server, the name
// server in dev mode, a gateway, two local servers), plus a name server in accounts mode.
// Run by `npm test` and by CTest (label sdk).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Client, ConnectionLostError, ErrorCode, GatewayError, KickedError, LoginError, QueueFullError,
  SystemProto, game, login, openTransport, register, utf8, fromUtf8,
} from "../dist/index.js";
import { haveBinaries, startAccountsNameServer, startCluster } from "./cluster.mjs";

const P = game.ProtoId;
const skip = haveBinaries() ? false : "no build/bin/launch (set BEHAVIOR_BIN_DIR)";
const unique = (name) => `${name}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, timeoutMs = 10000, what = "a condition") {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pred()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The next event of a client. */
function nextEvent(client, event, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${event} event in ${timeoutMs} ms`)); }, timeoutMs);
    const off = client.on(event, (...args) => { clearTimeout(timer); off(); resolve(args); });
  });
}

/** Opens a raw transport to the gateway and sends AUTH with `ticket`; the first answer. */
async function rawAuth(kind, address, ticket, waitMs = 5000) {
  const t = await openTransport(kind, address, false, 5000);
  return new Promise((resolve) => {
    const frames = [];
    t.onframe = (protoId, body) => {
      frames.push({ protoId, body });
      if (protoId === SystemProto.AUTH) { t.onclose = () => {}; t.close(); resolve({ frames, close: null }); }
    };
    t.onclose = (info) => resolve({ frames, close: info });
    t.send(SystemProto.AUTH, utf8(ticket));
    setTimeout(() => { t.onclose = () => {}; t.close(); resolve({ frames, close: null }); }, waitMs);
  });
}

describe("@behavior/client on a launched cluster", { skip }, () => {
  let cluster;
  let accounts;
  const clients = [];
  const connect = async (opts) => {
    const c = await Client.connect({ nameServer: cluster.nameServer, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await startCluster();
    accounts = await startAccountsNameServer(cluster);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    if (accounts) await accounts.stop();
    if (cluster) assert.equal(await cluster.stop(), 0, "launch did not stop cleanly; logs in " + cluster.logDir);
  });

  it("logs in in dev mode (any user, the password ignored) and names the gateway", async () => {
    const r = await login(cluster.nameServer, unique("dev"), "whatever");
    assert.ok(r.ticket.includes("."));
    assert.equal(r.gateway.ws, cluster.gateway.ws);
    assert.equal(r.gateway.tcp, cluster.gateway.tcp);
    assert.ok(r.node > 0);
    assert.ok(r.expiresAt > Date.now());
    // The ticket's claims on the wire are {e, g, n, r, u, v}: expiry, gateway, node, nonce,
    // user, version (the SDK treats the ticket as opaque). g was the gateway id as a string
    // ("101") where the login answer has the number; name servers since the spec's fix write
    // the number.
    const claims = JSON.parse(Buffer.from(r.ticket.split(".")[0], "base64url").toString());
    assert.deepEqual(Object.keys(claims).sort(), ["e", "g", "n", "r", "u", "v"]);
    assert.equal(String(claims.g), String(r.gateway.id));
    // Register works in dev mode too (201, then 409 taken); login there ignores the password.
    const user = unique("devreg");
    assert.deepEqual(await register(cluster.nameServer, user, "12345678"), { user });
    await assert.rejects(register(cluster.nameServer, user, "12345678"), (e) => e instanceof LoginError && e.status === 409);
    assert.equal((await login(cluster.nameServer, user, "not the password")).user, user);
  });

  it("registers and logs in in accounts mode, and refuses a wrong password", async () => {
    const user = unique("acct");
    assert.deepEqual(await register(accounts.url, user, "correct horse"), { user });
    await assert.rejects(register(accounts.url, user, "correct horse"), (e) => e instanceof LoginError && e.status === 409);
    await assert.rejects(register(accounts.url, unique("short"), "short"), (e) => e instanceof LoginError && e.status === 400);
    await assert.rejects(login(accounts.url, user, "wrong password"), (e) => e instanceof LoginError && e.status === 401);
    const c = await Client.connect({ nameServer: accounts.url, user, password: "correct horse" });
    clients.push(c);
    assert.match(c.pid, /^<\d+\.\d+\.\d+>$/);
    await assert.rejects(Client.connect({ nameServer: accounts.url, user: unique("nobody"), password: "12345678" }),
                         (e) => e instanceof LoginError && e.status === 401);
  });

  for (const transport of ["ws", "tcp", "udp"]) {
    it(`plays over ${transport}: join, move, chat, ping`, async () => {
      const room = unique("room");
      const a = await connect({ user: unique(`a-${transport}`), transport });
      const b = await connect({ user: unique(`b-${transport}`), transport: transport === "ws" ? "tcp" : "ws" });
      assert.equal(a.transport, transport);
      a.send(P.JOIN_ROOM, { room });
      const ja = await a.next(P.JOINED);
      assert.equal(ja.room, room);
      assert.ok(ja.width > 0 && ja.height > 0);
      const entered = a.next(P.PLAYER_JOINED, (p) => p.user === b.options.user);
      b.send(P.JOIN_ROOM, { room });
      await b.next(P.JOINED);
      await entered;
      const x = (ja.players[0].x + 1) % ja.width;
      const seen = b.next(P.POSITION, (p) => p.user === a.options.user && p.x === x);
      a.send(P.MOVE, { x, y: 0, seq: 1 });
      assert.equal((await seen).seq, 1);
      const heard = b.next(P.CHAT_MESSAGE, (m) => m.from === a.options.user);
      a.send(P.CHAT, { text: "héllo", seq: 7 });
      assert.deepEqual(await heard, { from: a.options.user, text: "héllo", seq: 7 });
      a.send(P.PING, { seq: 3, clientTimeUs: 123456789 });
      const pong = await a.next(P.PONG);
      assert.equal(pong.seq, 3);
      assert.equal(pong.clientTimeUs, 123456789);
    });
  }

  it("answers the documented error codes as typed GatewayErrors, and the connection lives on", async () => {
    const c = await connect({ user: unique("errors") });
    const errors = [];
    c.on("error", (e) => errors.push(e));
    c.sendRaw(4242, new Uint8Array());                  // a protoID the game does not know
    await waitFor(() => errors.length === 1, 5000, "404");
    assert.ok(errors[0] instanceof GatewayError);
    assert.equal(errors[0].code, ErrorCode.UnknownProto);
    c.send(P.CHAT, { text: "not in a room", seq: 1 });  // before JOIN_ROOM
    await waitFor(() => errors.length === 2, 5000, "409");
    assert.equal(errors[1].code, ErrorCode.NotInRoom);
    c.sendRaw(P.JOIN_ROOM, new Uint8Array([0x0a, 0x05, 0x41]));  // a body that does not parse
    await waitFor(() => errors.length === 3, 5000, "400");
    assert.equal(errors[2].code, ErrorCode.BadFrame);
    c.sendRaw(0xffff0001, new Uint8Array());            // a reserved (system) protoID
    await waitFor(() => errors.length === 4, 5000, "400 reserved");
    assert.equal(errors[3].code, ErrorCode.BadFrame);
    assert.equal(c.state, "open");
    c.send(P.PING, { seq: 1 });
    assert.equal((await c.next(P.PONG)).seq, 1);
  });

  for (const transport of ["ws", "tcp"]) {
    it(`refuses a forged, a reused and a garbage ticket with 401 over ${transport}`, async () => {
      const r = await login(cluster.nameServer, unique("forger"));
      const [payload, sig] = r.ticket.split(".");
      // The same claims, another user: the signature no longer matches.
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
      const forged = Buffer.from(JSON.stringify({ ...claims, u: "admin" })).toString("base64url") + "." + sig;
      for (const ticket of [forged, "garbage"]) {
        const { frames } = await rawAuth(transport, r.gateway[transport], ticket);
        assert.equal(frames[0]?.protoId, SystemProto.ERROR, `no error frame for ${ticket}`);
        assert.equal(game.ErrorCode.ERROR_NONE, 0);
        const { ErrorFrame } = await import("../dist/index.js");
        assert.equal(ErrorFrame.decode(frames[0].body).code, ErrorCode.Unauthorized);
      }
      const ok = await rawAuth(transport, r.gateway[transport], r.ticket);
      assert.equal(ok.frames[0]?.protoId, SystemProto.AUTH);
      const reused = await rawAuth(transport, r.gateway[transport], r.ticket);
      assert.equal(reused.frames[0]?.protoId, SystemProto.ERROR);
    });
  }

  it("over UDP: a forged ticket gets 401, one too short for an answer gets silence, a good one the pid", async () => {
    const r = await login(cluster.nameServer, unique("udpforger"));
    const [payload, sig] = r.ticket.split(".");
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, u: "admin" })).toString("base64url") + "." + sig;
    const { ErrorFrame } = await import("../dist/index.js");
    const refused = await rawAuth("udp", r.gateway.udp, forged);
    assert.equal(refused.frames[0]?.protoId, SystemProto.ERROR);
    assert.equal(ErrorFrame.decode(refused.frames[0].body).code, ErrorCode.Unauthorized);
    // No amplification: the gateway answers nothing larger than the AUTH datagram.
    const silent = await rawAuth("udp", r.gateway.udp, "garbage", 1000);
    assert.deepEqual(silent.frames, []);
    const ok = await rawAuth("udp", r.gateway.udp, r.ticket);
    assert.equal(ok.frames[0]?.protoId, SystemProto.AUTH);
    assert.match(fromUtf8(ok.frames[0].body), /^<\d+\.\d+\.\d+>$/);
  });

  for (const [was, is] of [["tcp", "ws"], ["udp", "tcp"], ["ws", "udp"]]) {
  it(`a second login of the same user (${is}) kicks the first (${was}), which closes without reconnecting`, async () => {
    const user = unique("kick");
    const first = await connect({ user, transport: was });
    const kicked = nextEvent(first, "kick");
    const closed = nextEvent(first, "close");
    let reconnects = 0;
    first.on("reconnecting", () => reconnects++);
    const second = await connect({ user, transport: is });
    assert.ok((await kicked)[0].length > 0);
    const [info] = await closed;
    assert.ok(info.error instanceof KickedError);
    assert.equal(first.state, "closed");
    assert.equal(second.pid, first.pid, "the second connection reaches the same process");
    await sleep(500);
    assert.equal(reconnects, 0);
    assert.equal(second.state, "open");
    assert.throws(() => first.send(P.PING, { seq: 1 }), (e) => e.kind === "closed");
  });
  }

  for (const transport of ["ws", "tcp", "udp"]) {
    it(`reconnects over ${transport} with a fresh login to the same process, and sends what was queued`, async () => {
      const user = unique(`re-${transport}`);
      const room = unique("reroom");
      const c = await connect({ user, transport, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
      const opens = [];
      c.on("open", (info) => {
        opens.push(info);
        c.send(P.JOIN_ROOM, { room });  // rejoin first: the queue is sent after the open event
      });
      c.send(P.JOIN_ROOM, { room });
      await c.next(P.JOINED);
      const firstPid = c.pid;
      const ticket = c.lastLogin.ticket;
      const disconnected = nextEvent(c, "disconnect");
      c.dropConnection("a test cut the line");
      const [lost] = await disconnected;
      assert.ok(lost.error instanceof ConnectionLostError);
      assert.equal(lost.error.slowReader, false);
      assert.equal(c.state, "reconnecting");
      c.send(P.CHAT, { text: "sent while away", seq: 42 });  // queued
      assert.equal(c.queued, 1);
      const echoed = await c.next(P.CHAT_MESSAGE, (m) => m.seq === 42, 15000);
      assert.equal(echoed.text, "sent while away");
      assert.equal(opens.length, 1);
      assert.equal(opens[0].reconnected, true);
      assert.equal(opens[0].samePid, true);
      assert.equal(c.pid, firstPid);
      assert.notEqual(c.lastLogin.ticket, ticket, "a fresh ticket");
    });
  }

  it("bounds the outgoing queue with QueueFullError and refuses sends after close()", async () => {
    const c = new Client({ nameServer: cluster.nameServer, user: unique("queue"), maxQueuedFrames: 3 });
    for (let i = 1; i <= 3; i++) c.send(P.PING, { seq: i });
    assert.throws(() => c.send(P.PING, { seq: 4 }), (e) => e instanceof QueueFullError && /maxQueuedFrames 3/.test(e.message));
    const pongs = [];
    c.onMessage(P.PONG, (p) => pongs.push(p.seq));
    await c.open();
    clients.push(c);
    await waitFor(() => pongs.length === 3, 5000, "3 pongs");
    assert.deepEqual(pongs, [1, 2, 3]);
    const tiny = await connect({ user: unique("tiny"), maxBufferedBytes: 16 });
    assert.throws(() => tiny.sendRaw(P.CHAT, new Uint8Array(64)), (e) => e instanceof QueueFullError);
    await c.close();
    assert.equal(c.state, "closed");
    assert.throws(() => c.send(P.PING, { seq: 9 }), (e) => e.kind === "closed");
  });

  it("200 clients (WebSocket, TCP, UDP) play with zero loss: every move, chat and ping answered, in order", { timeout: 120000 }, async () => {
    // Over UDP, POSITION comes on the unreliable side channel: its moves are not counted.
    const N = 200, ROOMS = 10, CHATS = 5, PINGS = 3, MOVES = 3;
    const movesOf = (p) => (p.c.transport === "udp" ? MOVES : p.moved.length);
    const tag = unique("load");
    const players = [];
    for (let i = 0; i < N; i += 25) {  // logins in batches
      const batch = [];
      for (let j = i; j < Math.min(N, i + 25); j++) {
        batch.push(Client.connect({
          nameServer: cluster.nameServer, user: `${tag}-${j}`, transport: ["ws", "tcp", "udp"][j % 3],
        }).then((c) => {
          const p = { c, i: j, room: `${tag}-r${j % ROOMS}`, chats: new Map(), mine: [], pongs: [], moved: [], errors: [] };
          c.on("error", (e) => p.errors.push(e.message));
          c.onMessage(P.CHAT_MESSAGE, (m) => {
            p.chats.set(m.from, (p.chats.get(m.from) ?? 0) + 1);
            if (m.from === c.options.user) p.mine.push(m.seq);
          });
          c.onMessage(P.PONG, (m) => p.pongs.push(m.seq));
          c.onMessage(P.POSITION, (m) => { if (m.user === c.options.user) p.moved.push(m.seq); });
          return p;
        }));
      }
      players.push(...(await Promise.all(batch)));
    }
    clients.push(...players.map((p) => p.c));
    await Promise.all(players.map(async (p) => {
      p.c.send(P.JOIN_ROOM, { room: p.room });
      await p.c.next(P.JOINED, () => true, 30000);
    }));
    // Everyone is in: every room has N / ROOMS members that each hear every chat.
    for (let k = 1; k <= CHATS; k++) {
      for (const p of players) p.c.send(P.CHAT, { text: `chat ${k} from ${p.i}`, seq: k });
    }
    for (let k = 1; k <= PINGS; k++) for (const p of players) p.c.send(P.PING, { seq: k });
    for (let k = 1; k <= MOVES; k++) for (const p of players) p.c.send(P.MOVE, { x: (p.i + k) % 40, y: k, seq: k });
    const expectedChats = (N / ROOMS) * CHATS;
    await waitFor(() => players.every((p) => p.mine.length === CHATS && p.pongs.length === PINGS && movesOf(p) === MOVES &&
                                              [...p.chats.values()].reduce((a, b) => a + b, 0) === expectedChats),
                  60000, "every chat and pong").catch(() => {});
    const short = players.filter((p) => p.mine.length !== CHATS || p.pongs.length !== PINGS || movesOf(p) !== MOVES ||
                                        [...p.chats.values()].reduce((a, b) => a + b, 0) !== expectedChats);
    assert.deepEqual(short.map((p) => `${p.i}: chats ${p.mine.length} pongs ${p.pongs.length} moves ${p.moved.length} errors ${p.errors.join(",")}`), []);
    for (const p of players) {
      assert.deepEqual(p.mine, [1, 2, 3, 4, 5], "own chats in order");
      assert.deepEqual(p.pongs, [1, 2, 3]);
      if (p.c.transport !== "udp") assert.deepEqual(p.moved, [1, 2, 3], "own moves' positions in order");
      assert.deepEqual(p.errors, []);
    }
    await Promise.all(players.map((p) => p.c.close()));
  });
});

// A cluster of two gateways that queue at most 64 KiB for a client, do not rate-limit and
// close a connection idle for 2 s: a slow reader is cut quickly, heartbeats matter, and a
// drained gateway's clients have somewhere to go.
describe("@behavior/client and the gateway's limits and drains", { skip }, () => {
  let cluster;
  const clients = [];
  const connect = async (opts) => {
    const c = await Client.connect({ nameServer: cluster.nameServer, heartbeatMs: 400, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await startCluster(["--gateways", "2", "--local-servers", "1"],
                                 { BEHAVIOR_MAX_OUTPUT_BYTES: "65536", BEHAVIOR_FRAME_RATE: "0",
                                   BEHAVIOR_IDLE_TIMEOUT_MS: "2000" });
  });

  it("heartbeats keep a quiet connection open; without them the idle close is error 408 (400 before the fix), then a reconnect", async () => {
    const quiet = await connect({ user: unique("quiet"), transport: "ws" });
    let drops = 0;
    quiet.on("disconnect", () => drops++);
    const lazy = await connect({ user: unique("lazy"), transport: "tcp", heartbeatMs: 60000, deadAfterMs: 120000,
                                 reconnect: { initialDelayMs: 50 } });
    const errors = [];
    lazy.on("error", (e) => errors.push(e));
    const [lost] = await nextEvent(lazy, "disconnect", 10000);
    const reopened = nextEvent(lazy, "open", 10000);
    // The gateway says why before it closes: 408 Idle (gateways before the spec's fix sent
    // 400, which the spec's table did not list for idle), and the client does not call it a
    // slow reader.
    const said = errors.find((e) => e instanceof GatewayError);
    assert.ok(said, errors.map(String).join("; "));
    assert.ok(said.code === ErrorCode.Idle || said.code === ErrorCode.BadFrame, `idle close with code ${said.code}`);
    assert.match(said.detail, /idle/);
    assert.equal(lost.error.slowReader, false);
    const [info] = await reopened;
    assert.equal(info.samePid, true);
    await lazy.close();
    await sleep(Math.max(0, 3000));
    assert.equal(drops, 0, "the heartbeating client was cut");
    assert.equal(quiet.state, "open");
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    if (cluster) await cluster.stop();
  });

  it("tells a slow reader it was cut (ConnectionLostError.slowReader), then reconnects", { timeout: 60000 }, async () => {
    const room = unique("slow");
    // Its own silence check waits longer than the flood takes on a loaded machine: the cut
    // must come from the gateway (a paused reader hears nothing, so it would give up first).
    const slow = await connect({ user: unique("slow"), transport: "tcp", reconnect: { initialDelayMs: 50 },
                                 deadAfterMs: 120000 });
    slow.send(P.JOIN_ROOM, { room });
    await slow.next(P.JOINED);
    const lost = nextEvent(slow, "disconnect", 40000);
    const reopened = nextEvent(slow, "open", 40000);
    slow.pauseReading();
    const flooders = [];
    for (let i = 0; i < 4; i++) {
      const f = await connect({ user: unique(`flood${i}`), transport: "tcp", maxBufferedBytes: 64 << 20 });
      f.send(P.JOIN_ROOM, { room });
      await f.next(P.JOINED);
      flooders.push(f);
    }
    // Chats of 250 bytes to everyone in the room, until the room says the reader that does not
    // read has left (its connection was cut, so its process left the room): megabytes, more
    // than the kernel's buffers plus the gateway's 64 KiB for it.
    const left = flooders[0].next(P.PLAYER_LEFT, (m) => m.user === slow.options.user, 45000);
    let gone = false;
    left.then(() => { gone = true; }, () => {});
    const text = "x".repeat(250);
    for (let k = 1; k <= 100000 && !gone; k++) {
      for (const f of flooders) f.send(P.CHAT, { text, seq: k });
      if (k % 200 === 0) await sleep(20);
    }
    await left;
    slow.resumeReading();
    const [info] = await lost;
    assert.ok(info.error instanceof ConnectionLostError, String(info.error));
    assert.equal(info.error.slowReader, true, info.error.message);
    assert.match(info.error.message, /slow reader/);
    const [open] = await reopened;
    assert.equal(open.reconnected, true);
    assert.equal(open.samePid, true);
  });

  it("follows a gateway's RECONNECT (SIGTERM: it drains) to the other gateway, to the same process", { timeout: 60000 }, async () => {
    const first = cluster.gateways.find((g) => g.name === "gateway-1");
    assert.ok(first, cluster.output());
    const onFirst = [];
    for (let i = 0; i < 18 && onFirst.length < 3; i++) {
      const c = await connect({ user: unique(`drain${i}`), transport: ["ws", "tcp", "udp"][i % 3] });
      if (c.lastLogin.gateway.tcp === first.tcp) onFirst.push(c);
    }
    assert.ok(onFirst.length > 0, "no login was placed on gateway-1");
    const reopened = onFirst.map((c) => nextEvent(c, "open", 30000));
    const pids = onFirst.map((c) => c.pid);
    process.kill(cluster.pids["gateway-1"], "SIGTERM");
    const infos = (await Promise.all(reopened)).map(([info]) => info);
    for (const [i, info] of infos.entries()) {
      assert.equal(info.drained, true);
      assert.equal(info.samePid, true);
      assert.equal(info.pid, pids[i]);
      assert.notEqual(onFirst[i].lastLogin.gateway.tcp, first.tcp, "still on the draining gateway");
      onFirst[i].send(P.PING, { seq: 77 });
      assert.equal((await onFirst[i].next(P.PONG)).seq, 77);
    }
  });
});
