// Typed frames: a schema maps each protoID to the generated codec of its body, so send()
// and on() know the message type of each protoID.
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import * as game from "./gen/game.js";
import { ErrorFrame } from "./gen/system.js";

/** What ts-proto generates for each message: encode, decode, fromPartial. */
export interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
  fromPartial(object: any): T;
}

/** protoID → the codec of its body. */
export type Schema = { readonly [protoId: number]: Codec<any> };

/** The message type of a codec. */
export type MessageOf<C> = C extends Codec<infer T> ? T : never;

/** What send() takes for a message: any subset of its fields (the rest are proto3 defaults). */
export type PartialMessage<T> = { [K in keyof T]?: T[K] extends Array<infer E> ? Array<PartialMessage<E>> : T[K] extends object ? PartialMessage<T[K]> : T[K] };

/** The demo game's messages (local_server/game/game.proto), both directions. */
export const gameSchema = {
  [game.ProtoId.JOIN_ROOM]: game.JoinRoom,
  [game.ProtoId.JOINED]: game.Joined,
  [game.ProtoId.MOVE]: game.Move,
  [game.ProtoId.POSITION]: game.Position,
  [game.ProtoId.CHAT]: game.Chat,
  [game.ProtoId.CHAT_MESSAGE]: game.ChatMessage,
  [game.ProtoId.SCORE]: game.Score,
  [game.ProtoId.LEAVE_ROOM]: game.LeaveRoom,
  [game.ProtoId.PLAYER_LEFT]: game.PlayerLeft,
  [game.ProtoId.PING]: game.Ping,
  [game.ProtoId.PONG]: game.Ping,
  [game.ProtoId.PLAYER_JOINED]: game.PlayerState,
} as const;

export type GameSchema = typeof gameSchema;

export function encodeMessage<T>(codec: Codec<T>, message: PartialMessage<T>): Uint8Array {
  return codec.encode(codec.fromPartial(message)).finish();
}

export { ErrorFrame };
