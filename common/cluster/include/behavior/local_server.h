// local_server.h — the stock local_server as a function, for a game that links the library
// into its own server binary instead of loading a kinds library:
//
//   #include <behavior/local_server.h>
//   int main(int argc, char** argv) {
//     return behavior::run_local_server(argc, argv, "mygame", [](behavior::KindsContext& ctx) {
//       ctx.node.register_kind<Player>("user");
//       return behavior::Status();
//     });
//   }
//
// It takes every flag, environment variable and config-file key the stock local_server
// takes (docs/configuration.md), --kinds-lib included, so one binary can carry kinds of its
// own and load more. Then it builds the node, registers the kinds, joins the cluster when
// --redis is given, and runs until SIGINT or SIGTERM, when every process gets on_stop.
#pragma once

#include <string>

#include "behavior/kinds_library.h"

namespace behavior {

// Returns the process's exit code: 0 after a signal, 1 when the node, the cluster or the
// kinds cannot start (the reason logged), 2 for a usage error.
int run_local_server(int argc, char** argv, std::string game = {}, RegisterKindsFn register_kinds = nullptr);

}  // namespace behavior
