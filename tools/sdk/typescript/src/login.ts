// The name server's HTTP API (docs/protocol.md, "Logging in"): POST /v1/login and
// POST /v1/register, JSON both ways, errors as {code, message}.
import { LoginError } from "./errors.js";

/** A gateway's addresses, "host:port" each, "" when it does not offer that transport. */
export interface GatewayAddresses {
  id: number;
  tcp: string;
  tcps: string;
  udp: string;
  ws: string;
  wss: string;
}

export interface LoginReply {
  user: string;
  /** The node the user's process lives on (or will be placed on). */
  node: number;
  gateway: GatewayAddresses;
  /** Single use, for that gateway only, valid until expiresAt. */
  ticket: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface HttpOptions {
  /** Gives up after this long (default 10 s). */
  timeoutMs?: number;
  /** Another fetch (default: the global one, Node 18+ and browsers). */
  fetch?: typeof fetch;
}

/** "http://host:port" from "host:port", "http://host:port/" or an https URL; "" = this page's origin. */
export function nameServerUrl(base: string): string {
  if (base === "") return "";
  const url = /^https?:\/\//.test(base) ? base : "http://" + base;
  return url.replace(/\/+$/, "");
}

async function post(base: string, path: string, body: unknown, opts: HttpOptions): Promise<{ status: number; json: any }> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  if (!doFetch) throw new LoginError(0, "no fetch() here: pass options.fetch");
  const controller = typeof AbortController !== "undefined" ? new AbortController() : undefined;
  const timer = setTimeout(() => controller?.abort(), opts.timeoutMs ?? 10000);
  try {
    const r = await doFetch(nameServerUrl(base) + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: controller?.signal,
    });
    const text = await r.text();
    let json: any = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text };
    }
    return { status: r.status, json };
  } catch (e: any) {
    throw new LoginError(0, `${nameServerUrl(base) || "this origin"}${path}: ${e?.name === "AbortError" ? "timed out" : e?.message ?? e}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Logs in: in dev mode (`--auth dev`) any user, the password ignored; with accounts
 * (`--auth accounts`) the user's password. Throws LoginError (401 bad credentials, 503 no
 * live node or gateway, 429 too many logins from this address).
 */
export async function login(nameServer: string, user: string, password = "", opts: HttpOptions = {}): Promise<LoginReply> {
  const { status, json } = await post(nameServer, "/v1/login", { user, password }, opts);
  if (status !== 200) throw new LoginError(status, json?.message ?? "no message");
  const g = json.gateway ?? {};
  if (typeof json.ticket !== "string") throw new LoginError(status, "the answer has no ticket");
  return {
    user: String(json.user ?? user),
    node: Number(json.node),
    gateway: {
      id: Number(g.id ?? 0),
      tcp: String(g.tcp ?? ""),
      tcps: String(g.tcps ?? ""),
      udp: String(g.udp ?? ""),
      ws: String(g.ws ?? ""),
      wss: String(g.wss ?? ""),
    },
    ticket: json.ticket,
    expiresAt: Number(json.expires_at ?? 0),
  };
}

/**
 * Creates an account (name: 1-64 of A-Za-z0-9_.-, password at least 8 bytes). Throws
 * LoginError: 409 the name is taken, 400 a bad name or password.
 */
export async function register(nameServer: string, user: string, password: string, opts: HttpOptions = {}): Promise<{ user: string }> {
  const { status, json } = await post(nameServer, "/v1/register", { user, password }, opts);
  if (status !== 201 && status !== 200) throw new LoginError(status, json?.message ?? "no message");
  return { user: String(json.user ?? user) };
}
