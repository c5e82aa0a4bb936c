#!/usr/bin/env bash
# The contract compiles on its own: proto/ (with its vendored google/api files) and protoc's well-known types are all
# that `protoc` needs, for every language protoc generates itself. Uses the system protoc when there is one (Debian:
# protobuf-compiler), else the one NuGet brought with Grpc.Tools (restored by the build), so CI needs nothing installed.
set -euo pipefail
cd "$(dirname "$0")/.."

protoc=$(command -v protoc || true)
include=()
if [ -z "$protoc" ]; then
  tools=$(ls -d "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/grpc.tools/*/ 2>/dev/null | sort -V | tail -n1)
  case "$(uname -m)" in x86_64) arch=linux_x64 ;; aarch64) arch=linux_arm64 ;; *) arch=linux_x86 ;; esac
  [ -n "$tools" ] && [ -x "$tools/tools/$arch/protoc" ] || { echo "check-proto: no protoc (install protobuf-compiler, or build once so NuGet restores Grpc.Tools)"; exit 1; }
  protoc="$tools/tools/$arch/protoc"
  include=(-I "$tools/build/native/include")
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out"/{cpp,python,java,csharp,php,ruby}
# Only proto/ on the import path (plus the well-known types): a missing vendored file fails here.
"$protoc" -I proto "${include[@]}" \
  --cpp_out="$out/cpp" --python_out="$out/python" --java_out="$out/java" --csharp_out="$out/csharp" \
  --php_out="$out/php" --ruby_out="$out/ruby" --descriptor_set_out="$out/semcache.pb" --include_imports \
  proto/semcache/v1/semcache.proto
echo "check-proto: proto/semcache/v1/semcache.proto compiles with $("$protoc" --version) for C++, Python, Java, C#, PHP and Ruby"
