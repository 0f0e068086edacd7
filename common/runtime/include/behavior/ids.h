// ids.h — every well-known id in one place: the system protoIDs (the top 64k of the 32-bit
// space, never relayed from a client), and the serials of the service addresses every node
// has at the same pid (Pid(node, Pid::kExternalShard, serial)). Game protoIDs are the
// user's: anything below proto::kSystemBase.
#pragma once

#include <cstdint>
#include <string_view>

#include "behavior/pid.h"

namespace behavior {

namespace proto {
inline constexpr uint32_t kSystemBase = 0xFFFF0000u;
// The runtime's signals.
inline constexpr uint32_t kExit = kSystemBase + 1;           // body: ExitSignal (trap_exit on)
inline constexpr uint32_t kDown = kSystemBase + 2;           // body: DownSignal
inline constexpr uint32_t kError = kSystemBase + 3;          // body: ErrorFrame (to clients)
inline constexpr uint32_t kUndeliverable = kSystemBase + 4;  // body: Undeliverable (bounce)
inline constexpr uint32_t kStop = kSystemBase + 5;           // body: reason bytes
// A process moved to another node (live migration, docs/durable.md): its monitors and links
// get this from the old pid before the DOWN (or exit) with reason "migrated". Body: pb::Moved.
inline constexpr uint32_t kMoved = kSystemBase + 6;
// The client protocol (gateway).
inline constexpr uint32_t kAuth = kSystemBase + 16;          // first client frame: the ticket
inline constexpr uint32_t kHeartbeat = kSystemBase + 17;     // answered by the gateway
inline constexpr uint32_t kKick = kSystemBase + 18;          // to a connection: body = reason
// Gateway → a user's process, from the connection's pid. The runtime handles both (the
// router's on_client_attached / on_client_detached hooks see them): kAttach makes the
// sender the process's writer and kicks the previous writer (a second login); kDetach
// clears the writer if it is still the sender (the client went away).
inline constexpr uint32_t kAttach = kSystemBase + 19;
inline constexpr uint32_t kDetach = kSystemBase + 20;
// Gateway → client (docs/protocol.md): this gateway is going away (it drains). Body: a short
// reason text. The client logs in again at the name server, connects to the gateway it
// names and sends AUTH with the fresh ticket; the user's process lives on meanwhile.
inline constexpr uint32_t kReconnect = kSystemBase + 21;
inline constexpr std::string_view kDefaultReconnectReason = "gateway draining";
// The cluster service (service::kCluster): calls.
inline constexpr uint32_t kEnsure = kSystemBase + 32;  // JsonMap{name, kind, writer} → Pid
inline constexpr uint32_t kLookup = kSystemBase + 33;  // name bytes → Pid
// pb::SaveState → uint64 epoch: a durable process's state, written if its epoch is current
// (a call when the process awaits it; an info for interval and passivation saves).
inline constexpr uint32_t kSaveState = kSystemBase + 34;
// A durable process's own periodic save (DurableOptions::save_every); the runtime handles it.
inline constexpr uint32_t kSaveTick = kSystemBase + 35;
// Live migration (docs/durable.md), calls to the cluster service of the node that holds the
// process. JsonMap{name, to} → Pid: the durable process `name` moved to node `to`; the reply
// is its new pid once it runs there (an error: it did not move and runs on where it was).
inline constexpr uint32_t kMigrate = kSystemBase + 36;
// Source node's process → target node's cluster service: pb::Adopt → Pid. Spawns the process
// held, hands its name over in the directory (only from the old pid), starts it with the state.
inline constexpr uint32_t kAdopt = kSystemBase + 37;
// A message for a process that moved, relayed by its old node: the body is the message's
// s2s envelope, from the old pid to the new one. Unwrapped by the receiving node's cluster.
inline constexpr uint32_t kForwarded = kSystemBase + 38;
// JsonMap{} → JsonMap{names, durable, ordered}: move every durable process off this node
// (to live local nodes that are not draining) and stop the other named ones gracefully; a
// step per call, so the caller polls until `names` is 0.
inline constexpr uint32_t kEvacuate = kSystemBase + 39;
// JsonMap{path} → the reload's report (JSON text, KindsHost ReloadReport::to_json): a hot
// update of the kinds library at `path` on that node (docs/hot_update.md). Local servers only.
inline constexpr uint32_t kReload = kSystemBase + 40;
// A gateway's control address (service::kGatewayControl): calls.
// JsonMap{user, reason} → uint64: every connection of that user gets a KICK frame (body: the
// reason, default "kicked by operator") and is closed; the user's process is told the client
// left (kDetach) and lives on. The reply counts the connections closed.
inline constexpr uint32_t kKickUser = kSystemBase + 48;
inline constexpr std::string_view kDefaultKickReason = "kicked by operator";
inline bool is_system(uint32_t id) { return id >= kSystemBase; }
}  // namespace proto

// Serials of the service addresses, below kFirstDynamicSerial; endpoints added without a
// serial get one from kFirstDynamicSerial up.
namespace service {
inline constexpr uint64_t kCluster = 1;         // the cluster service (Cluster::service_pid)
inline constexpr uint64_t kGatewayControl = 2;  // a gateway's operator requests
inline constexpr uint64_t kFirstDynamicSerial = 16;
inline Pid cluster_pid(uint16_t node) { return Pid(node, Pid::kExternalShard, kCluster); }
inline Pid gateway_control_pid(uint16_t node) { return Pid(node, Pid::kExternalShard, kGatewayControl); }
}  // namespace service

}  // namespace behavior
