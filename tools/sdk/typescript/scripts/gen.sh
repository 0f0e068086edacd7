#!/bin/sh
# Generates src/gen/*.ts from the repository's .proto files with ts-proto (a protoc plugin;
# protoc comes from Debian's protobuf-compiler, tools/install_deps.sh). The output is
# committed: `npm run build` needs no protoc. Run `npm run gen` after changing a .proto.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/../../.." && pwd)
out="$here/src/gen"
mkdir -p "$out"
protoc \
  --plugin="protoc-gen-ts_proto=$here/node_modules/.bin/protoc-gen-ts_proto" \
  --ts_proto_out="$out" \
  --ts_proto_opt=esModuleInterop=true,importSuffix=.js,forceLong=number,outputServices=false,outputJsonMethods=false,outputPartialMethods=true,useOptionals=none,env=both,fileSuffix= \
  -I "$repo/local_server/game" -I "$repo/common/runtime/proto" \
  "$repo/local_server/game/game.proto" "$repo/common/runtime/proto/system.proto"
