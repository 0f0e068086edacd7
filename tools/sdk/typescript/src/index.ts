// @behavior/client: a client for behavior game servers (docs/protocol.md).
export { Client } from "./client.js";
export type { ClientOptions, ClientEvents, ClientState, CloseInfo, OpenInfo, ReconnectOptions, ReconnectingInfo } from "./client.js";
export { login, register, nameServerUrl } from "./login.js";
export type { GatewayAddresses, LoginReply, HttpOptions } from "./login.js";
export {
  BehaviorError,
  ConnectionLostError,
  GatewayError,
  KickedError,
  LoginError,
  QueueFullError,
} from "./errors.js";
export type { BehaviorErrorKind } from "./errors.js";
export { ErrorCode, SystemProto, MAX_FRAME_BYTES, MAX_HEARTBEAT_BYTES, encodeFrame, decodeFrame, encodeTcpFrame, utf8, fromUtf8 } from "./protocol.js";
export { gameSchema, encodeMessage } from "./schema.js";
export type { Codec, GameSchema, MessageOf, PartialMessage, Schema } from "./schema.js";
export { openTransport } from "./transport.js";
export type { Transport, TransportClose, TransportKind } from "./transport.js";
export * as game from "./gen/game.js";
export { ErrorFrame } from "./gen/system.js";
