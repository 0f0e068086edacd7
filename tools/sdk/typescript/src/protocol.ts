// The wire: frames `u32 protoID (big-endian) | body`, the reserved system protoIDs and the
// gateway's error codes (docs/protocol.md, "Frames, byte by byte" and "System protoIDs").

/** Reserved protoIDs (0xFFFF0000 and up) that a client sees or sends. */
export const SystemProto = {
  /** gateway → client: `ErrorFrame{code, message}` (system.proto). */
  ERROR: 0xffff0003,
  /** client → gateway: the ticket; gateway → client: the user's process pid as text. */
  AUTH: 0xffff0010,
  /** both ways: at most 64 bytes, echoed by the gateway. */
  HEARTBEAT: 0xffff0011,
  /** gateway → client: the reason; the connection closes (another login of the same user). */
  KICK: 0xffff0012,
  /** gateway → client: the gateway drains; log in again, connect there, AUTH, leave this one. */
  RECONNECT: 0xffff0015,
} as const;

/** The first protoID reserved for the system: a client may send none of them but AUTH and HEARTBEAT. */
export const FIRST_SYSTEM_PROTO = 0xffff0000;

/**
 * The codes of ERROR frames: the gateway's (400, 401, 408, 410, 429, 503) and the demo game's
 * (400, 404, 409, 503, see game.proto's ErrorCode). A game may send others; they arrive as
 * plain numbers.
 */
export enum ErrorCode {
  /** A bad frame (a reserved protoID, over the maximum size), or a body the game cannot parse. */
  BadFrame = 400,
  /** AUTH refused: a bad, expired, reused or foreign ticket, or no AUTH in time. */
  Unauthorized = 401,
  /** The game does not know this protoID (demo game). */
  UnknownProto = 404,
  /** Nothing from the client for --idle-timeout-ms (send heartbeats); the gateway closes. Gateways before the spec's fix sent 400. */
  Idle = 408,
  /** MOVE or CHAT before JOIN_ROOM (demo game). */
  NotInRoom = 409,
  /** The user's process ended: log in again. */
  ProcessGone = 410,
  /** Frames over the gateway's rate (--frame-rate); the excess was dropped. */
  RateLimited = 429,
  /** Retry later: Redis or the user's node unreachable, the gateway draining, the room unavailable. */
  Unavailable = 503,
}

/** The gateway's default maximum of protoID + body (`--max-frame`, 64 KiB). */
export const MAX_FRAME_BYTES = 64 * 1024;
/** A heartbeat body is at most this long (the gateway cuts a longer one). */
export const MAX_HEARTBEAT_BYTES = 64;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** One frame as a WebSocket message carries it: `u32 protoID | body`. */
export function encodeFrame(protoId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, protoId >>> 0, false);
  out.set(body, 4);
  return out;
}

/** The inverse of encodeFrame; throws on fewer than 4 bytes. */
export function decodeFrame(bytes: Uint8Array): { protoId: number; body: Uint8Array } {
  if (bytes.length < 4) throw new RangeError("a frame shorter than its protoID (" + bytes.length + " bytes)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { protoId: view.getUint32(0, false), body: bytes.subarray(4) };
}

/** One frame as TCP carries it: `u32 length | u32 protoID | body`, length = 4 + body size. */
export function encodeTcpFrame(protoId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 4 + body.length, false);
  view.setUint32(4, protoId >>> 0, false);
  out.set(body, 8);
  return out;
}
