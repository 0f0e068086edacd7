// What can go wrong, as error classes a caller can tell apart with instanceof or `.kind`.
import { ErrorCode } from "./protocol.js";

export type BehaviorErrorKind =
  | "login"            // the name server refused or could not be reached
  | "gateway"          // an ERROR frame (code in .code)
  | "kicked"           // a second login of the same user took the connection over
  | "queue_full"       // send(): the bounded outgoing queue is full
  | "connection_lost"  // the connection ended without the client asking
  | "closed"           // send() after close()
  | "protocol";        // the gateway said something the client cannot read

export class BehaviorError extends Error {
  readonly kind: BehaviorErrorKind;
  constructor(kind: BehaviorErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = "BehaviorError";
  }
}

/** The name server answered with an error status (or not at all: status 0). */
export class LoginError extends BehaviorError {
  /** The HTTP status: 400 malformed, 401 bad credentials, 409 taken, 429, 503; 0 no answer. */
  readonly status: number;
  constructor(status: number, message: string) {
    super("login", status ? `login refused (${status}): ${message}` : `login failed: ${message}`);
    this.status = status;
    this.name = "LoginError";
  }
}

/** An ERROR frame from the gateway or the game. */
export class GatewayError extends BehaviorError {
  /** An ErrorCode, or another number a game defines. */
  readonly code: ErrorCode | number;
  readonly detail: string;
  constructor(code: ErrorCode | number, detail: string) {
    super("gateway", `error ${code}${ErrorCode[code] ? " (" + ErrorCode[code] + ")" : ""}: ${detail}`);
    this.code = code;
    this.detail = detail;
    this.name = "GatewayError";
  }
}

/** The connection was taken over by another login of the same user. */
export class KickedError extends BehaviorError {
  readonly reason: string;
  constructor(reason: string) {
    super("kicked", `kicked: ${reason}`);
    this.reason = reason;
    this.name = "KickedError";
  }
}

/** send() found the bounded queue full: the frame was not sent. */
export class QueueFullError extends BehaviorError {
  constructor(message: string) {
    super("queue_full", message);
    this.name = "QueueFullError";
  }
}

/**
 * The connection ended without close(). `slowReader` is true when the gateway cut it with no
 * error frame and no close reason: what it does to a client that has more than
 * `--max-output-bytes` (1 MiB) of frames waiting, i.e. one that does not read fast enough
 * (it can also be a gateway that died or a network failure).
 */
export class ConnectionLostError extends BehaviorError {
  readonly slowReader: boolean;
  /** The WebSocket close code (1000, 1008, 1013, 1006 ...), or 0 over TCP. */
  readonly closeCode: number;
  readonly reason: string;
  constructor(reason: string, closeCode: number, slowReader: boolean) {
    super(
      "connection_lost",
      slowReader
        ? `the gateway cut the connection without a word (${reason}): a slow reader (more than ` +
            `--max-output-bytes waiting for it), or the gateway or the network failed`
        : `connection lost: ${reason}`,
    );
    this.slowReader = slowReader;
    this.closeCode = closeCode;
    this.reason = reason;
    this.name = "ConnectionLostError";
  }
}
