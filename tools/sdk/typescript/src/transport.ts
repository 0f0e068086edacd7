// The transports: WebSocket (browsers: the built-in one; Node: the `ws` package unless Node
// has one built in), TCP (Node only, `node:net`) and UDP with KCP (Node only, `node:dgram`).
// Each delivers whole frames.
import { KcpSession } from "./kcp.js";
import { decodeFrame, encodeFrame, encodeTcpFrame, MAX_FRAME_BYTES, SystemProto } from "./protocol.js";

export type TransportKind = "ws" | "tcp" | "udp";

/** How one connection ended. */
export interface TransportClose {
  /** WebSocket close code (1000 normal, 1008 refused, 1013 try later, 1006 no close frame); 0 over TCP. */
  code: number;
  reason: string;
  /** The peer said goodbye (a WebSocket close frame); false for a cut or a network error. */
  clean: boolean;
  /** The gateway ended it without a close frame or an error (not this client): how it cuts a slow reader. */
  cut?: boolean;
}

export interface Transport {
  readonly kind: TransportKind;
  send(protoId: number, body: Uint8Array): void;
  /** Bytes handed over but not yet written to the network. */
  buffered(): number;
  close(): void;
  /** UDP: a frame on the unreliable side channel (may be lost or reordered); else as send(). */
  sendUnreliable?(protoId: number, body: Uint8Array): void;
  /** Stops / resumes reading from the network (Node only; a no-op in browsers). */
  pause(): void;
  resume(): void;
  onframe: (protoId: number, body: Uint8Array) => void;
  onclose: (info: TransportClose) => void;
}

/** "host:port" with a wildcard host → the page's host in a browser, 127.0.0.1 elsewhere. */
export function resolveHost(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  if (colon < 0) throw new Error(`not a host:port address: "${address}"`);
  let host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (host === "" || host === "0.0.0.0" || host === "::" || host === "[::]") {
    const loc = (globalThis as any).location;
    host = loc?.hostname || "127.0.0.1";
  }
  return { host, port };
}

export function openTransport(kind: TransportKind, address: string, secure: boolean, timeoutMs: number): Promise<Transport> {
  if (kind === "udp") return openUdp(address);
  return kind === "tcp" ? openTcp(address, secure, timeoutMs) : openWebSocket(address, secure, timeoutMs);
}

function noop(): void {}

async function webSocketClass(): Promise<any> {
  const builtIn = (globalThis as any).WebSocket;
  if (builtIn) return builtIn;
  const mod: any = await import("ws");
  return mod.default ?? mod.WebSocket;
}

async function openWebSocket(address: string, secure: boolean, timeoutMs: number): Promise<Transport> {
  const WS = await webSocketClass();
  const { host, port } = resolveHost(address);
  const pageSecure = (globalThis as any).location?.protocol === "https:";
  const url = (secure || pageSecure ? "wss://" : "ws://") + host + ":" + port + "/";
  const socket = new WS(url);
  socket.binaryType = "arraybuffer";
  let local = false;
  const t: Transport = {
    kind: "ws",
    onframe: noop,
    onclose: noop,
    send(protoId, body) {
      socket.send(encodeFrame(protoId, body));
    },
    buffered() {
      return Number(socket.bufferedAmount ?? 0);
    },
    pause() {
      if (typeof socket.pause === "function") socket.pause();  // the ws package; browsers cannot
    },
    resume() {
      if (typeof socket.resume === "function") socket.resume();
    },
    close() {
      local = true;
      try {
        socket.close(1000, "bye");
      } catch {
        /* already closed */
      }
    },
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.onopen = socket.onerror = socket.onclose = null;
      try { socket.close(); } catch { /* never opened */ }
      reject(new Error(`WebSocket ${url}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.onerror = () => {};
    socket.onclose = (ev: any) => {
      clearTimeout(timer);
      reject(new Error(`WebSocket ${url}: could not connect (code ${ev?.code ?? "?"})`));
    };
  });
  socket.onmessage = (ev: any) => {
    const data = ev.data;
    if (!(data instanceof ArrayBuffer)) return;  // the gateway sends binary messages only
    let f;
    try {
      f = decodeFrame(new Uint8Array(data));
    } catch {
      return;
    }
    t.onframe(f.protoId, f.body);
  };
  socket.onerror = () => {};  // the close event follows with the code
  socket.onclose = (ev: any) => {
    const code = Number(ev?.code ?? 1006);
    t.onclose({ code, reason: String(ev?.reason ?? ""), clean: code !== 1006, cut: code === 1006 && !local });
  };
  return t;
}

async function openTcp(address: string, secure: boolean, timeoutMs: number): Promise<Transport> {
  if (typeof (globalThis as any).process?.versions?.node !== "string") {
    throw new Error("TCP needs Node: use the WebSocket transport in a browser");
  }
  const { host, port } = resolveHost(address);
  const netName = secure ? "node:tls" : "node:net";
  const net: any = await import(/* @vite-ignore */ netName);
  const socket: any = secure
    ? net.connect({ host, port, servername: host })
    : net.connect({ host, port });
  socket.setNoDelay(true);
  let closed = false;
  let local = false;
  const t: Transport = {
    kind: "tcp",
    onframe: noop,
    onclose: noop,
    send(protoId, body) {
      socket.write(encodeTcpFrame(protoId, body));
    },
    buffered() {
      return Number(socket.writableLength ?? 0);
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
    close() {
      local = true;
      socket.end();
    },
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP ${address}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(secure ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve();
    });
    socket.once("error", (e: Error) => {
      clearTimeout(timer);
      reject(new Error(`TCP ${address}: ${e.message}`));
    });
  });
  // Length-prefixed frames, reassembled from whatever chunks arrive.
  let pending: Uint8Array = new Uint8Array(0);
  let errorText = "";
  socket.on("data", (chunk: Uint8Array) => {
    if (pending.length === 0) {
      pending = chunk;
    } else {
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      pending = joined;
    }
    let at = 0;
    while (pending.length - at >= 4) {
      const view = new DataView(pending.buffer, pending.byteOffset + at, pending.length - at);
      const length = view.getUint32(0, false);
      if (length < 4 || length > 16 * MAX_FRAME_BYTES) {
        errorText = `a frame length of ${length} bytes`;
        local = true;
        socket.destroy();
        return;
      }
      if (pending.length - at < 4 + length) break;
      const protoId = view.getUint32(4, false);
      const body = pending.slice(at + 8, at + 4 + length);
      at += 4 + length;
      t.onframe(protoId, body);
      if (closed) return;
    }
    pending = at === pending.length ? new Uint8Array(0) : pending.slice(at);
  });
  socket.on("error", (e: Error) => {
    errorText = e.message;
  });
  socket.on("close", (hadError: boolean) => {
    if (closed) return;
    closed = true;
    t.onclose({ code: 0, reason: errorText || (hadError ? "network error" : "closed by the gateway"), clean: false, cut: !local });
  });
  return t;
}

// UDP: control datagrams start with four zero bytes, then a type (1 AUTH, 2 unreliable
// data, 3 AUTH refused, 4 BYE) and, but for the client's AUTH and the refusal, the conv
// (u32 little-endian). Anything else is KCP for the conv the AUTH answer gave; each KCP
// message is one frame `u32 protoID (big-endian) | body`, as are unreliable data's bytes
// after the conv. send(AUTH, ticket) sends the AUTH datagram (again every 200 ms until
// answered) and the answer comes out as an AUTH frame, like on the other transports.
const UDP_AUTH = 1, UDP_DATA = 2, UDP_ERROR = 3, UDP_BYE = 4;

function udpControl(type: number, conv: number, rest: Uint8Array): Uint8Array {
  const head = conv ? 9 : 5;
  const out = new Uint8Array(head + rest.length);
  out[4] = type;
  if (conv) new DataView(out.buffer).setUint32(5, conv >>> 0, true);
  out.set(rest, head);
  return out;
}

async function openUdp(address: string): Promise<Transport> {
  if (typeof (globalThis as any).process?.versions?.node !== "string") {
    throw new Error("UDP needs Node: use the WebSocket transport in a browser");
  }
  const { host, port } = resolveHost(address);
  const dgram: any = await import(/* @vite-ignore */ "node:dgram");
  const socket: any = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.connect(port, host, () => {
      socket.removeListener("error", reject);
      resolve();
    });
  });
  const epoch = Date.now();
  const clock = () => (Date.now() - epoch) >>> 0;
  let kcp: KcpSession | null = null;
  let conv = 0;
  let authTimer: ReturnType<typeof setInterval> | undefined;
  let tick: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  let paused = false;
  const write = (d: Uint8Array) => {
    if (!closed) socket.send(d);
  };
  const finish = (reason: string, cut: boolean, local: boolean) => {
    if (closed) return;
    if (local && conv) write(udpControl(UDP_BYE, conv, new Uint8Array(0)));
    closed = true;
    if (authTimer) clearInterval(authTimer);
    if (tick) clearInterval(tick);
    try { socket.close(); } catch { /* closed */ }
    // Asynchronous, like the other transports' close events.
    setTimeout(() => t.onclose({ code: 0, reason, clean: !cut, cut }), 0);
  };
  const deliver = (message: Uint8Array) => {
    if (message.length < 4) return;
    const f = decodeFrame(message);
    t.onframe(f.protoId, f.body.slice());
  };
  const t: Transport = {
    kind: "udp",
    onframe: noop,
    onclose: noop,
    send(protoId, body) {
      if (closed) return;
      if (protoId === SystemProto.AUTH && !kcp) {
        const d = udpControl(UDP_AUTH, 0, body);
        write(d);
        if (authTimer) clearInterval(authTimer);
        authTimer = setInterval(() => write(d), 200);
        return;
      }
      if (!kcp) throw new Error("UDP: a frame before AUTH was answered");
      kcp.send(encodeFrame(protoId, body));
      kcp.flush(clock());
    },
    sendUnreliable(protoId, body) {
      if (closed || !conv) return;
      write(udpControl(UDP_DATA, conv, encodeFrame(protoId, body)));
    },
    buffered() {
      return kcp ? kcp.waiting() * 1200 : 0;
    },
    close() {
      finish("closed by the client", false, true);
    },
    pause() {
      paused = true;  // datagrams that come meanwhile are dropped, as a full buffer would; KCP resends
    },
    resume() {
      paused = false;
    },
  };
  socket.on("message", (d: Uint8Array) => {
    if (closed || paused || d.length < 4) return;
    const zero = d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0;
    if (!zero) {
      if (kcp && kcp.input(d, clock())) {
        for (let m = kcp.receive(); m; m = kcp.receive()) {
          deliver(m);
          if (closed) return;
        }
        kcp.flush(clock());  // ACKs leave at once
      }
      return;
    }
    if (d.length < 5) return;
    const type = d[4];
    if (type === UDP_ERROR) {
      t.onframe(SystemProto.ERROR, d.slice(5));
      finish("AUTH refused", false, false);
      return;
    }
    if (d.length < 9) return;
    const c = new DataView(d.buffer, d.byteOffset + 5, 4).getUint32(0, true);
    if (type === UDP_AUTH) {
      if (kcp) return;  // an answer to a resend
      conv = c;
      if (authTimer) clearInterval(authTimer);
      authTimer = undefined;
      kcp = new KcpSession(conv, write);
      tick = setInterval(() => {
        if (!kcp || closed) return;
        kcp.flush(clock());
        if (kcp.dead) finish("the gateway stopped acknowledging", true, false);
      }, 10);
      t.onframe(SystemProto.AUTH, d.slice(9));
    } else if (c !== conv) {
      return;
    } else if (type === UDP_DATA) {
      deliver(d.slice(9));
    } else if (type === UDP_BYE) {
      finish("the gateway ended the session (BYE)", true, false);
    }
  });
  socket.on("error", (e: Error) => finish(e.message, true, false));
  return t;
}
