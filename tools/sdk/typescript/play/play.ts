// The demo game in the browser, on @behavior/client: log in at the name server that served
// this page, connect to the gateway it names over WebSocket, AUTH, join a room and play.
// scripts/build_play.mjs bundles this file with esbuild into play/index.html's <script>, and
// writes the page to name_server/play/index.html, which the name server serves at /play.
// Tests drive it through URL parameters (?user=&password=&room=&autoplay=1&heartbeat_ms=) and
// window.game.
import { Client, GatewayError, KickedError, game, type BehaviorError } from "../src/index.js";

const P = game.ProtoId;

interface PlayerView {
  user: string;
  x: number;
  y: number;
  score: number;
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;
const input = (id: string): HTMLInputElement => $(id) as HTMLInputElement;
const params = new URLSearchParams(location.search);
// The gateway cuts a connection silent for --idle-timeout-ms (30 s by default); a test
// running it with a shorter one passes ?heartbeat_ms= to match.
const HEARTBEAT_MS = Math.max(100, Number(params.get("heartbeat_ms")) || 10000);
const PING_MS = 5000;  // the round-trip time shown above the player list

const state = {
  phase: "login",       // login, connecting, authenticating, joining, in-room, closed, error
  user: "", room: "", node: "", pid: "", gateway: "",
  connections: 0,       // authenticated connections so far (each reconnect adds one)
  width: 0, height: 0,
  players: new Map<string, PlayerView>(),
  coin: null as { x: number; y: number } | null,
  chat: [] as Array<{ from: string; text: string; seq: number }>,
  errors: [] as string[],  // newest last
  lastProblem: "",      // the last error or kick of this connection
  rtt_ms: null as number | null,
  moveSeq: 0, chatSeq: 0, pingSeq: 0,
  pendingMove: null as { x: number; y: number; seq: number } | null,  // sent, its POSITION not seen yet
};
let client: Client | null = null;
let pingTimer: ReturnType<typeof setInterval> | undefined;

function setPhase(phase: string, text: string): void {
  state.phase = phase;
  const s = $("status");
  s.dataset.phase = phase;
  s.textContent = text;
  document.body.dataset.phase = phase;
}

function report(text: string): void {
  state.errors.push(text);
  if (state.errors.length > 50) state.errors.shift();
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + " " + text;
  const log = $("log");
  log.appendChild(li);
  while (log.children.length > 50) log.firstChild!.remove();
  li.scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------------------------------
// Connecting: the SDK logs in, connects, AUTHs and reconnects; the page joins its room on
// every open (a new login does not put the player back in its room).

function stop(): void {
  if (pingTimer) clearInterval(pingTimer);
  pingTimer = undefined;
  if (client) {
    const old = client;
    client = null;
    void old.close();
  }
}

async function start(): Promise<void> {
  // An open connection reconnects (a fresh login, the same process); anything else starts over.
  if (client && client.state === "open" && state.user === input("user").value.trim()) {
    setPhase("connecting", "reconnecting…");
    client.dropConnection("Reconnect pressed");
    return;
  }
  stop();
  state.user = input("user").value.trim();
  state.pid = "";
  state.lastProblem = "";
  state.room = input("room").value.trim() || "lobby";
  if (!state.user) {
    setPhase("error", "enter a user name");
    return;
  }
  setPhase("connecting", "logging in as " + state.user + "…");
  const c = new Client({
    nameServer: "",  // this page's origin
    user: state.user,
    password: input("password").value,
    transport: "ws",
    heartbeatMs: HEARTBEAT_MS,
  });
  client = c;
  wire(c);
  try {
    await c.open();
  } catch (e: any) {
    if (client !== c) return;
    const text = String(e?.message ?? e);
    setPhase("error", text);
    report(text);
  }
}

function wire(c: Client): void {
  const mine = () => client === c;
  c.on("open", (info) => {
    if (!mine()) return;
    state.pid = info.pid;
    state.connections++;
    state.lastProblem = "";
    const login = c.lastLogin!;
    state.gateway = login.gateway.wss || login.gateway.ws;
    state.node = "node " + login.node;
    if (!pingTimer) pingTimer = setInterval(ping, PING_MS);
    join(state.room);
  });
  c.on("error", (e: BehaviorError) => {
    if (!mine() || e.kind === "connection_lost" || e.kind === "kicked") return;  // told by disconnect/kick
    state.lastProblem = e instanceof GatewayError ? `error ${e.code}: ${e.detail}` : e.message;
    report(state.lastProblem);
    if (e instanceof GatewayError && (state.phase === "authenticating" || state.phase === "joining")) {
      setPhase("error", state.lastProblem);
    }
  });
  c.on("kick", (reason) => {
    if (!mine()) return;
    state.lastProblem = "kicked: " + reason;
    report(state.lastProblem);
  });
  c.on("disconnect", (info) => {
    if (!mine()) return;
    setPhase("connecting", "connection lost (" + info.error.message + "), reconnecting…");
  });
  c.on("close", (info) => {
    if (!mine()) return;
    const why = info.error ? ": " + (info.error instanceof KickedError ? "kicked, " + info.error.reason : info.error.message) : "";
    setPhase("closed", "disconnected" + why + " — press Reconnect");
    render();
  });
  c.onMessage(P.JOINED, (j) => {
    if (!mine()) return;
    state.room = j.room || state.room;
    state.width = j.width;
    state.height = j.height;
    state.players.clear();
    for (const p of j.players) state.players.set(p.user, { user: p.user, x: p.x, y: p.y, score: p.score });
    state.coin = { x: j.coinX, y: j.coinY };
    if (j.node) state.node = j.node;
    setPhase("in-room", "in room " + state.room + " as " + state.user + " (" + state.node + ")");
    resizeCanvas();
    render();
  });
  c.onMessage(P.PLAYER_JOINED, (p) => {
    state.players.set(p.user, { user: p.user, x: p.x, y: p.y, score: p.score });
    render();
  });
  c.onMessage(P.POSITION, (m) => {
    const p = player(m.user);
    p.x = m.x;
    p.y = m.y;
    if (m.user === state.user && state.pendingMove && m.seq >= state.pendingMove.seq) state.pendingMove = null;
    render();
  });
  c.onMessage(P.SCORE, (s) => {
    player(s.user).score = s.score;
    state.coin = { x: s.coinX, y: s.coinY };
    render();
  });
  c.onMessage(P.PLAYER_LEFT, (m) => {
    state.players.delete(m.user);
    render();
  });
  c.onMessage(P.CHAT_MESSAGE, (m) => {
    state.chat.push(m);
    if (state.chat.length > 200) state.chat.shift();
    addChatLine(m);
    render();
  });
  c.onMessage(P.PONG, (p) => {
    state.rtt_ms = Math.max(0, performance.now() - p.clientTimeUs / 1000);
    render();
  });
}

function send(fn: (c: Client) => void): boolean {
  if (!client || client.state !== "open") return false;
  try {
    fn(client);
    return true;
  } catch (e: any) {
    report(String(e?.message ?? e));  // QueueFullError: the gateway is not keeping up
    return false;
  }
}

function join(room: string): void {
  state.room = room;
  state.players.clear();
  state.coin = null;
  state.pendingMove = null;
  setPhase("joining", "joining room " + room + "…");
  send((c) => c.send(P.JOIN_ROOM, { room }));
  render();
}

function ping(): void {
  send((c) => c.send(P.PING, { seq: ++state.pingSeq, clientTimeUs: Math.round(performance.now() * 1000) }));
}

function player(user: string): PlayerView {
  let p = state.players.get(user);
  if (!p) {
    p = { user, x: 0, y: 0, score: 0 };
    state.players.set(user, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------
// Outgoing moves and chat.

function move(x: number, y: number): boolean {
  if (state.phase !== "in-room") return false;
  x = Math.min(Math.max(0, Math.round(x)), state.width - 1);
  y = Math.min(Math.max(0, Math.round(y)), state.height - 1);
  const seq = ++state.moveSeq;
  state.pendingMove = { x, y, seq };
  return send((c) => c.send(P.MOVE, { x, y, seq }));
}

// One cell from where this player is going (the last move not yet confirmed) or is.
function step(dx: number, dy: number): boolean {
  const from = state.pendingMove || state.players.get(state.user);
  if (!from) return false;
  return move(from.x + dx, from.y + dy);
}

function chat(text: string): boolean {
  text = String(text);
  if (!text || state.phase !== "in-room") return false;
  if (new TextEncoder().encode(text).length > 256) {
    report("a chat message is at most 256 bytes");
    return false;
  }
  return send((c) => c.send(P.CHAT, { text, seq: ++state.chatSeq }));
}

const KEYS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1], A: [-1, 0], D: [1, 0], W: [0, -1], S: [0, 1],
};
document.addEventListener("keydown", (ev) => {
  const t = ev.target as HTMLElement | null;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA")) return;  // typing, not playing
  const d = KEYS[ev.key];
  if (!d || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  ev.preventDefault();  // no page scrolling
  step(d[0], d[1]);
});

const canvas = $("map") as HTMLCanvasElement;
canvas.addEventListener("click", (ev) => {
  canvas.focus();
  if (!state.width) return;
  // Client pixels → canvas pixels (inside the border, whatever CSS scaling) → the cell.
  const rect = canvas.getBoundingClientRect(), c = cellSize();
  const px = (ev.clientX - rect.left - canvas.clientLeft) * (canvas.width / (canvas.clientWidth || canvas.width));
  const py = (ev.clientY - rect.top - canvas.clientTop) * (canvas.height / (canvas.clientHeight || canvas.height));
  move(Math.floor(px / c), Math.floor(py / c));
});

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void start();
});
$("reconnect").addEventListener("click", () => void start());
$("join").addEventListener("click", () => {
  if (!client || client.state !== "open") return;
  const room = input("room").value.trim() || "lobby";
  send((c) => c.send(P.LEAVE_ROOM, {}));
  join(room);
});
$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (chat(input("chat-text").value)) input("chat-text").value = "";
});

// ---------------------------------------------------------------------------------------
// Drawing: the canvas, and the same state as DOM text (which the tests read).

const MAX_W = 800, MAX_H = 600;
function cellSize(): number {
  if (!state.width || !state.height) return 16;
  return Math.max(4, Math.floor(Math.min(MAX_W / state.width, MAX_H / state.height)));
}
function resizeCanvas(): void {
  const c = cellSize();
  canvas.width = Math.max(1, state.width) * c;
  canvas.height = Math.max(1, state.height) * c;
}
function colorOf(name: string): string {
  let h = 2166136261;  // FNV-1a: names that differ in one letter get far-apart hues
  for (const ch of name) h = Math.imul(h ^ ch.codePointAt(0)!, 16777619);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);  // then mixed, so the last letter moves every bit
  h = (h ^ (h >>> 12)) >>> 0;
  return "hsl(" + (h % 360) + ", 65%, 45%)";
}

let drawQueued = false;
function render(): void {
  renderDom();
  if (!drawQueued) {
    drawQueued = true;
    requestAnimationFrame(() => {
      drawQueued = false;
      draw();
    });
  }
}

function renderDom(): void {
  const list = $("players");
  list.textContent = "";
  const sorted = [...state.players.values()].sort((a, b) => b.score - a.score || a.user.localeCompare(b.user));
  for (const p of sorted) {
    const li = document.createElement("li");
    li.id = "player-" + p.user;
    li.dataset.user = p.user;
    li.dataset.x = String(p.x);
    li.dataset.y = String(p.y);
    li.dataset.score = String(p.score);
    if (p.user === state.user) li.className = "me";
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = colorOf(p.user);
    li.appendChild(sw);
    li.appendChild(document.createTextNode(p.user + " " + p.x + "," + p.y + " " + p.score));
    list.appendChild(li);
  }
  const parts: string[] = [];
  if (state.width) parts.push("map " + state.width + "×" + state.height);
  if (state.coin) parts.push("coin at " + state.coin.x + "," + state.coin.y);
  if (state.rtt_ms !== null) parts.push("ping " + state.rtt_ms.toFixed(1) + " ms");
  $("info").textContent = parts.join(" · ");
}

function addChatLine(c: { from: string; text: string }): void {
  const li = document.createElement("li");
  li.dataset.from = c.from;
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = c.from + ": ";
  li.appendChild(from);
  li.appendChild(document.createTextNode(c.text));
  const box = $("chat");
  box.appendChild(li);
  while (box.children.length > 200) box.firstChild!.remove();
  box.scrollTop = box.scrollHeight;
}

function draw(): void {
  const g = canvas.getContext("2d")!, c = cellSize();
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.width) {
    g.fillStyle = "#999";
    g.font = "16px system-ui, sans-serif";
    g.fillText(state.phase === "in-room" ? "" : "not in a room", 12, 24);
    return;
  }
  g.strokeStyle = "#eee";
  g.lineWidth = 1;
  g.beginPath();
  for (let x = 0; x <= state.width; x++) { g.moveTo(x * c + 0.5, 0); g.lineTo(x * c + 0.5, state.height * c); }
  for (let y = 0; y <= state.height; y++) { g.moveTo(0, y * c + 0.5); g.lineTo(state.width * c, y * c + 0.5); }
  g.stroke();
  if (state.coin) {
    g.fillStyle = "#e0b000";
    g.beginPath();
    g.arc((state.coin.x + 0.5) * c, (state.coin.y + 0.5) * c, c * 0.35, 0, 2 * Math.PI);
    g.fill();
    g.strokeStyle = "#9a7a00";
    g.stroke();
  }
  g.font = Math.max(9, Math.floor(c * 0.7)) + "px system-ui, sans-serif";
  g.textBaseline = "bottom";
  for (const p of state.players.values()) {
    g.fillStyle = colorOf(p.user);
    g.fillRect(p.x * c + 2, p.y * c + 2, c - 4, c - 4);
    if (p.user === state.user) {
      g.strokeStyle = "#000";
      g.lineWidth = 2;
      g.strokeRect(p.x * c + 1, p.y * c + 1, c - 2, c - 2);
      g.lineWidth = 1;
    }
    g.fillStyle = "#333";
    g.fillText(p.user + " " + p.score, p.x * c, p.y === 0 ? 2 * c : p.y * c);
  }
  if (state.pendingMove) {
    g.strokeStyle = "#3a7bd5";
    g.setLineDash([3, 3]);
    g.strokeRect(state.pendingMove.x * c + 2.5, state.pendingMove.y * c + 2.5, c - 5, c - 5);
    g.setLineDash([]);
  }
}

// ---------------------------------------------------------------------------------------
// The test hook and URL parameters.

// The page's codec: the SDK's generated messages (tests compare them with libprotobuf).
const SCHEMA = {
  PlayerState: game.PlayerState, JoinRoom: game.JoinRoom, Joined: game.Joined, Move: game.Move,
  Position: game.Position, Chat: game.Chat, ChatMessage: game.ChatMessage, Score: game.Score,
  LeaveRoom: game.LeaveRoom, PlayerLeft: game.PlayerLeft, Ping: game.Ping,
};

(window as any).game = {
  state,
  move, step, chat,
  join: (room: string) => { input("room").value = room; $("join").click(); },
  reconnect: start,
  get client() { return client; },
  get connected() { return !!client && client.state === "open" && !!state.pid; },
  get inRoom() { return state.phase === "in-room"; },
  me() { return state.players.get(state.user) || null; },
  pb: {
    encode: (codec: any, obj: any) => codec.encode(codec.fromPartial(obj)).finish(),
    decode: (codec: any, bytes: Uint8Array) => codec.decode(bytes),
    SCHEMA,
  },
};

if (params.has("user")) input("user").value = params.get("user")!;
if (params.has("password")) input("password").value = params.get("password")!;
if (params.has("room")) input("room").value = params.get("room")!;
render();
if (params.get("autoplay") === "1") void start();
