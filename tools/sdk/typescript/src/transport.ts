// The two stream transports: WebSocket (browsers: the built-in one; Node: the `ws` package
// unless Node has one built in) and TCP (Node only, `node:net`). Both deliver whole frames.
import { decodeFrame, encodeFrame, encodeTcpFrame, MAX_FRAME_BYTES } from "./protocol.js";

export type TransportKind = "ws" | "tcp";

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
