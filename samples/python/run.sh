#!/usr/bin/env bash
# Generates the Python stubs from proto/ with a stock protoc and its gRPC plugin, then runs semcache_client.py
# against a server: bash samples/python/run.sh [HOST:PORT]
# Needs protoc, grpc_python_plugin and the grpcio and protobuf modules: on Debian or Ubuntu
#   apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
# (or pip install grpcio grpcio-tools, then: python3 -m grpc_tools.protoc with the same -I and outputs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
address="${1:-127.0.0.1:50051}"
# Debian's interpreter, where its python3-grpcio lives, ahead of any other python3 on PATH.
python=$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3)
plugin=$(command -v grpc_python_plugin || true)
[ -n "$plugin" ] || { echo "run.sh: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)"; exit 1; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
protoc -I "$root/proto" --python_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc="$plugin" \
  "$root/proto/semcache/v1/semcache.proto" "$root/proto/google/api/annotations.proto" "$root/proto/google/api/http.proto"
PYTHONPATH="$out" "$python" "$root/samples/python/semcache_client.py" "$address"
