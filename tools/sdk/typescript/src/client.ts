// Client: one player's connection, kept up. Logs in at the name server, connects to the
// gateway the answer names, AUTHs with the ticket, heartbeats, sends and receives typed
// frames, and on a lost connection logs in again (tickets are single use) with backoff and
// finds the same process again (the AUTH answer is the same pid).
import {
  BehaviorError,
  ConnectionLostError,
  GatewayError,
  KickedError,
  LoginError,
  QueueFullError,
} from "./errors.js";
import { ErrorFrame } from "./gen/system.js";
import { login, type LoginReply } from "./login.js";
import { fromUtf8, MAX_FRAME_BYTES, SystemProto, utf8 } from "./protocol.js";
import { encodeMessage, gameSchema, type GameSchema, type MessageOf, type PartialMessage, type Schema } from "./schema.js";
import { openTransport, type Transport, type TransportClose, type TransportKind } from "./transport.js";

export interface ReconnectOptions {
  /** The first retry's delay (default 200 ms); each next one doubles, with jitter. */
  initialDelayMs?: number;
  /** The longest delay between tries (default 5 s). */
  maxDelayMs?: number;
  /** Tries before giving up with a close event (default 20). */
  maxAttempts?: number;
}

export interface ClientOptions<S extends Schema = GameSchema> {
  /** The name server: "host:port" or "http(s)://host:port"; "" = the origin of this page. */
  nameServer: string;
  user: string;
  /** Accounts mode: the password. Dev mode (`--auth dev`) ignores it. */
  password?: string;
  /** "ws" (default; the only one in browsers), "tcp" or "udp" (KCP; Node). */
  transport?: TransportKind;
  /** protoID → codec for typed send and receive (default: the demo game's). */
  schema?: S;
  /** A HEARTBEAT this often (default 10 s; the gateway closes a connection idle for 30 s). */
  heartbeatMs?: number;
  /** A connection from which nothing (not even a heartbeat echo) came for this long is dropped and reconnected (default 3 heartbeats). */
  deadAfterMs?: number;
  /** Login, connect and AUTH must each finish within this (default 10 s). */
  connectTimeoutMs?: number;
  /** Reconnect after a lost connection (default on). false: a lost connection closes the client. */
  reconnect?: boolean | ReconnectOptions;
  /** Frames send() holds while (re)connecting; one more throws QueueFullError (default 1000). */
  maxQueuedFrames?: number;
  /** Bytes the socket may hold unwritten; a send() past it throws QueueFullError (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Another fetch for the name server. */
  fetch?: typeof fetch;
}

export interface OpenInfo {
  /** The user's process, e.g. "<2.1234.0>" (the AUTH answer). */
  pid: string;
  /** 1 for the first connection, then one more for each reconnect. */
  connection: number;
  /** This connection replaced a lost one (or one whose gateway drained). */
  reconnected: boolean;
  /** The same process as before the reconnect (false: it had ended and a new one started). */
  samePid: boolean;
  /** The reconnect was the gateway's RECONNECT (it drains), not a lost connection. */
  drained: boolean;
}

export interface ReconnectingInfo {
  attempt: number;
  delayMs: number;
  /** Why: the lost connection's error, or the RECONNECT frame's reason. */
  error: BehaviorError;
}

export interface CloseInfo {
  /** undefined after close(); else why the client gave up (kicked, login refused, lost for good). */
  error?: BehaviorError;
}

export interface ClientEvents {
  /** Connected and authenticated (first time and after each reconnect). Rejoin rooms here. */
  open: [OpenInfo];
  /** Every frame that is not a system frame, raw. */
  message: [protoId: number, body: Uint8Array];
  /** ERROR frames (GatewayError with a typed code), lost connections, bodies that do not decode. */
  error: [BehaviorError];
  /** A KICK frame: another login of this user took over; the client closes (no reconnect). */
  kick: [reason: string];
  /** A connection ended; a reconnect follows (see reconnecting) unless the client closes. */
  disconnect: [TransportClose & { error: BehaviorError }];
  /** A reconnect is scheduled. */
  reconnecting: [ReconnectingInfo];
  /** The client is done: close() was called, or it gave up. */
  close: [CloseInfo];
}

export type ClientState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

interface Connection {
  t: Transport;
  pid: string;
  login: LoginReply;
  lastHeard: number;
  lastError?: GatewayError;
  kicked?: string;
  dropped?: boolean;
}

type Handler = (...args: any[]) => void;

function safeCall(fn: Handler, args: unknown[]): void {
  try {
    fn(...args);
  } catch (e) {
    setTimeout(() => {
      throw e;
    });  // like a DOM listener: reported, and the other listeners and frames go on
  }
}

const now = (): number => Date.now();

export class Client<S extends Schema = GameSchema> {
  /** Creates a client and waits for its first connection (throws LoginError, GatewayError ...). */
  static async connect<S extends Schema = GameSchema>(options: ClientOptions<S>): Promise<Client<S>> {
    const c = new Client<S>(options);
    await c.open();
    return c;
  }

  readonly options: ClientOptions<S>;
  readonly schema: S;
  private stateValue: ClientState = "idle";
  private conn?: Connection;
  private queue: Array<{ protoId: number; body: Uint8Array }> = [];
  private listeners = new Map<string, Set<Handler>>();
  private messageHandlers = new Map<number, Set<Handler>>();
  private heartbeatTimer?: ReturnType<typeof setInterval>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private handingOff = false;
  private previousPid = "";
  private connections = 0;
  private closeWaiters: Array<() => void> = [];

  constructor(options: ClientOptions<S>) {
    this.options = options;
    this.schema = (options.schema ?? gameSchema) as S;
  }

  get state(): ClientState {
    return this.stateValue;
  }
  /** The user's process (the last AUTH answer), "" before the first. */
  get pid(): string {
    return this.conn?.pid ?? this.previousPid;
  }
  /** The last login's answer (node, gateway addresses). */
  get lastLogin(): LoginReply | undefined {
    return this.conn?.login;
  }
  get transport(): TransportKind {
    return this.options.transport ?? "ws";
  }
  /** Frames waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  // ---------------------------------------------------------------------------------------
  // Events.

  /** Listens for a client event; returns the function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, fn: (...args: ClientEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Handler);
    return () => set!.delete(fn as Handler);
  }

  /** Listens for one protoID of the schema, decoded; returns the function that stops listening. */
  onMessage<K extends keyof S & number>(protoId: K, fn: (message: MessageOf<S[K]>, raw: Uint8Array) => void): () => void {
    let set = this.messageHandlers.get(protoId);
    if (!set) this.messageHandlers.set(protoId, (set = new Set()));
    set.add(fn as Handler);
    return () => set!.delete(fn as Handler);
  }

  /** The next message of this protoID that `accept` takes (default: any), or a timeout error. */
  next<K extends keyof S & number>(
    protoId: K,
    accept: (message: MessageOf<S[K]>) => boolean = () => true,
    timeoutMs = 10000,
  ): Promise<MessageOf<S[K]>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no message ${protoId} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onMessage(protoId, (m) => {
        if (!accept(m)) return;
        clearTimeout(timer);
        off();
        resolve(m);
      });
    });
  }

  private emit<E extends keyof ClientEvents>(event: E, ...args: ClientEvents[E]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) safeCall(fn, args);
  }

  // ---------------------------------------------------------------------------------------
  // Sending.

  /** Sends a typed message (any subset of its fields). Throws QueueFullError, or BehaviorError "closed". */
  send<K extends keyof S & number>(protoId: K, message: PartialMessage<MessageOf<S[K]>>): void {
    const codec = this.schema[protoId];
    if (!codec) throw new RangeError(`protoID ${protoId} is not in the schema: use sendRaw`);
    this.sendRaw(protoId, encodeMessage(codec, message as any));
  }

  /**
   * Sends a frame as it is. Checks only the size (protoID + body ≤ 64 KiB): the gateway
   * refuses reserved protoIDs (0xFFFF0000 and up, but HEARTBEAT) with error 400.
   */
  sendRaw(protoId: number, body: Uint8Array): void {
    if (this.stateValue === "closed") throw new BehaviorError("closed", "the client is closed");
    if (4 + body.length > MAX_FRAME_BYTES) throw new RangeError(`a frame of ${4 + body.length} bytes is over the gateway's ${MAX_FRAME_BYTES}`);
    const c = this.conn;
    if (!c || this.stateValue !== "open") {
      const max = this.options.maxQueuedFrames ?? 1000;
      if (this.queue.length >= max) {
        throw new QueueFullError(`${this.queue.length} frames already wait for a connection (maxQueuedFrames ${max}); this one was not sent`);
      }
      this.queue.push({ protoId, body });
      return;
    }
    const max = this.options.maxBufferedBytes ?? 1024 * 1024;
    const buffered = c.t.buffered();
    if (buffered + 8 + body.length > max) {
      throw new QueueFullError(`${buffered} bytes wait to be written to the gateway (maxBufferedBytes ${max}); this frame was not sent`);
    }
    c.t.send(protoId, body);
  }

  /**
   * UDP: sends on the unreliable side channel (may be lost or reordered; for state updates
   * such as MOVE). Other transports, or before a connection: the same as send().
   */
  sendUnreliable<K extends keyof S & number>(protoId: K, message: PartialMessage<MessageOf<S[K]>>): void {
    const codec = this.schema[protoId];
    if (!codec) throw new RangeError(`protoID ${protoId} is not in the schema`);
    const body = encodeMessage(codec, message as any);
    const c = this.conn;
    if (c && this.stateValue === "open" && c.t.sendUnreliable) {
      if (4 + body.length > MAX_FRAME_BYTES) throw new RangeError(`a frame of ${4 + body.length} bytes is over the gateway's ${MAX_FRAME_BYTES}`);
      c.t.sendUnreliable(protoId, body);
      return;
    }
    this.sendRaw(protoId, body);
  }

  private flushQueue(): void {
    const q = this.queue;
    this.queue = [];
    for (const f of q) {
      if (this.stateValue !== "open") {
        this.queue.push(f);
        continue;
      }
      this.conn!.t.send(f.protoId, f.body);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Connecting.

  /** The first connection: login, connect, AUTH. Resolves with the pid; throws what failed. */
  async open(): Promise<string> {
    if (this.stateValue !== "idle") throw new BehaviorError("closed", `open() on a client that is ${this.stateValue}`);
    this.stateValue = "connecting";
    try {
      const c = await this.connectOnce();
      if ((this.stateValue as ClientState) === "closed") {
        c.t.close();
        throw new BehaviorError("closed", "closed while connecting");
      }
      this.adopt(c, false, false);
      return c.pid;
    } catch (e) {
      this.stateValue = "closed";
      throw e;
    }
  }

  private async connectOnce(): Promise<Connection> {
    const timeoutMs = this.options.connectTimeoutMs ?? 10000;
    const reply = await login(this.options.nameServer, this.options.user, this.options.password ?? "", {
      timeoutMs,
      fetch: this.options.fetch,
    });
    const g = reply.gateway;
    let address: string;
    let secure: boolean;
    if (this.transport === "tcp") {
      secure = !g.tcp && !!g.tcps;
      address = g.tcp || g.tcps;
    } else if (this.transport === "udp") {
      secure = false;
      address = g.udp;
    } else {
      secure = !!g.wss;
      address = g.wss || g.ws;
    }
    if (!address) throw new LoginError(503, `gateway ${g.id} offers no ${this.transport} address`);
    const t = await openTransport(this.transport, address, secure, timeoutMs);
    const c: Connection = { t, pid: "", login: reply, lastHeard: now() };
    c.pid = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        t.onframe = () => {};
        t.onclose = () => {};
        t.close();
        reject(new ConnectionLostError(`no AUTH answer within ${timeoutMs} ms`, 0, false));
      }, timeoutMs);
      t.onframe = (protoId, body) => {
        if (protoId === SystemProto.AUTH) {
          clearTimeout(timer);
          resolve(fromUtf8(body));
        } else if (protoId === SystemProto.ERROR) {
          clearTimeout(timer);
          const e = decodeError(body);
          t.onclose = () => {};
          t.close();
          reject(e);
        }
      };
      t.onclose = (info) => {
        clearTimeout(timer);
        reject(new ConnectionLostError(`closed before the AUTH answer (${describeClose(info)})`, info.code, false));
      };
      t.send(SystemProto.AUTH, utf8(reply.ticket));
    });
    return c;
  }

  private adopt(c: Connection, reconnected: boolean, drained: boolean): void {
    this.conn = c;
    c.lastHeard = now();
    c.t.onframe = (protoId, body) => this.onFrame(c, protoId, body);
    c.t.onclose = (info) => this.onClose(c, info);
    this.stateValue = "open";
    this.connections++;
    const samePid = !reconnected || c.pid === this.previousPid;
    this.previousPid = c.pid;
    this.startHeartbeat();
    this.emit("open", { pid: c.pid, connection: this.connections, reconnected, samePid, drained });
    if (this.stateValue === "open") this.flushQueue();
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const every = Math.max(50, this.options.heartbeatMs ?? 10000);
    const deadAfter = this.options.deadAfterMs ?? 3 * every + 1000;
    const body = utf8("hb");
    this.heartbeatTimer = setInterval(() => {
      const c = this.conn;
      if (!c || this.stateValue !== "open") return;
      if (now() - c.lastHeard > deadAfter) {
        this.drop(c, { code: 0, reason: `nothing from the gateway for ${now() - c.lastHeard} ms`, clean: false });
        return;
      }
      try {
        c.t.send(SystemProto.HEARTBEAT, body);
      } catch {
        /* the close event follows */
      }
    }, every);
  }

  private stopTimers(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Receiving.

  private onFrame(c: Connection, protoId: number, body: Uint8Array): void {
    c.lastHeard = now();
    switch (protoId) {
      case SystemProto.HEARTBEAT:
      case SystemProto.AUTH:
        return;
      case SystemProto.ERROR: {
        const e = decodeError(body);
        c.lastError = e;
        this.emit("error", e);
        return;
      }
      case SystemProto.KICK:
        c.kicked = fromUtf8(body);
        this.emit("kick", c.kicked);
        return;
      case SystemProto.RECONNECT:
        if (c === this.conn) void this.handOff(c, fromUtf8(body));
        return;
    }
    this.emit("message", protoId, body);
    const handlers = this.messageHandlers.get(protoId);
    const codec = this.schema[protoId];
    if (!handlers || handlers.size === 0 || !codec) return;
    let decoded: unknown;
    try {
      decoded = codec.decode(body);
    } catch (e: any) {
      this.emit("error", new BehaviorError("protocol", `protoID ${protoId}: a body that does not decode (${e?.message ?? e})`));
      return;
    }
    for (const fn of [...handlers]) safeCall(fn, [decoded, body]);
  }

  /** The gateway drains: log in again, connect to the gateway named, then leave the old one. */
  private async handOff(old: Connection, reason: string): Promise<void> {
    if (this.handingOff) return;
    this.handingOff = true;
    this.emit("reconnecting", { attempt: 0, delayMs: 0, error: new BehaviorError("connection_lost", `the gateway asked to reconnect: ${reason}`) });
    try {
      const c = await this.connectOnce();
      if (this.stateValue === "closed" || this.conn !== old) {
        c.t.close();
        return;
      }
      old.dropped = true;
      old.t.onclose = () => {};
      // Frames still in flight on the old connection are delivered until it closes.
      old.t.onframe = (protoId, body) => this.onFrame(old, protoId, body);
      old.t.close();
      this.adopt(c, true, true);
    } catch {
      // The old connection relays until the drain's deadline; its close reconnects as usual.
    } finally {
      this.handingOff = false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Losing a connection.

  private drop(c: Connection, info: TransportClose): void {
    c.t.onclose = () => {};
    c.t.onframe = () => {};
    c.t.close();
    this.onClose(c, info);
  }

  private onClose(c: Connection, info: TransportClose): void {
    if (c.dropped) return;
    c.dropped = true;
    if (c !== this.conn) return;
    this.conn = undefined;
    this.stopTimers();
    for (const w of this.closeWaiters.splice(0)) w();
    if (this.stateValue === "closed") return;  // close() was called
    let error: BehaviorError;
    if (c.kicked !== undefined) {
      error = new KickedError(c.kicked);
    } else if (c.lastError) {
      error = new ConnectionLostError(`${c.lastError.message} (${describeClose(info)})`, info.code, false);
    } else {
      error = new ConnectionLostError(describeClose(info), info.code, !!info.cut);
    }
    this.emit("disconnect", { ...info, error });
    this.emit("error", error);
    if (c.kicked !== undefined || this.options.reconnect === false) {
      this.finish(error);
      return;
    }
    this.scheduleReconnect(0, error);
  }

  private scheduleReconnect(attempt: number, error: BehaviorError): void {
    const r = typeof this.options.reconnect === "object" ? this.options.reconnect : {};
    const maxAttempts = r.maxAttempts ?? 20;
    if (attempt >= maxAttempts) {
      this.finish(new BehaviorError(error.kind, `gave up after ${attempt} reconnects: ${error.message}`));
      return;
    }
    this.stateValue = "reconnecting";
    const initial = r.initialDelayMs ?? 200;
    const cap = r.maxDelayMs ?? 5000;
    const base = Math.min(cap, initial * 2 ** attempt);
    const delayMs = Math.round(base / 2 + (Math.random() * base) / 2);
    this.emit("reconnecting", { attempt: attempt + 1, delayMs, error });
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = undefined;
      if (this.stateValue !== "reconnecting") return;
      try {
        const c = await this.connectOnce();
        if (this.stateValue !== "reconnecting") {
          c.t.close();
          return;
        }
        this.adopt(c, true, false);
      } catch (e: any) {
        if ((this.stateValue as ClientState) !== "reconnecting") return;
        const err = e instanceof BehaviorError ? e : new ConnectionLostError(String(e?.message ?? e), 0, false);
        // Bad credentials or a refused account do not get better by trying again.
        if (err instanceof LoginError && (err.status === 400 || err.status === 401)) {
          this.finish(err);
          return;
        }
        this.emit("error", err);
        this.scheduleReconnect(attempt + 1, err);
      }
    }, delayMs);
  }

  private finish(error?: BehaviorError): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    this.stopTimers();
    this.queue = [];
    this.emit("close", { error });
  }

  /**
   * Stops reading from the gateway (Node; browsers cannot): frames wait in the kernel, then
   * at the gateway. The gateway cuts a client with more than `--max-output-bytes` (1 MiB)
   * waiting: the disconnect event then carries a ConnectionLostError with slowReader true
   * (seen once reading resumes), and the client reconnects.
   */
  pauseReading(): void {
    this.conn?.t.pause();
  }

  resumeReading(): void {
    this.conn?.t.resume();
  }

  /**
   * Drops the current connection as if the network had failed (for a network change, or a
   * test): the client reconnects as after any lost connection.
   */
  dropConnection(reason = "dropped by the client"): void {
    const c = this.conn;
    if (c && this.stateValue === "open") this.drop(c, { code: 0, reason, clean: false });
  }

  /** Leaves politely (a WebSocket close, a TCP FIN) and stops reconnecting. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.stateValue === "closed") return;
    const c = this.conn;
    this.finish(undefined);
    if (!c) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      c.t.close();
    });
    this.conn = undefined;
  }
}

function decodeError(body: Uint8Array): GatewayError {
  try {
    const e = ErrorFrame.decode(body);
    return new GatewayError(e.code, e.message);
  } catch {
    return new GatewayError(0, "an error frame that does not decode");
  }
}

function describeClose(info: TransportClose): string {
  if (info.code) return `close ${info.code}${info.reason ? " " + info.reason : ""}`;
  return info.reason || "closed";
}
