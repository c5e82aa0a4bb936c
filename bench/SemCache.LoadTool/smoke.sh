#!/usr/bin/env bash
# Smoke test of semcache-bench against a real server process, for CI (.ci/run) and by hand:
#   bash bench/SemCache.LoadTool/smoke.sh
# Builds the server and the tool, starts the server on free ports with a temporary data directory, runs a few seconds
# each of pairs, exact, mixed (closed loop and fixed rate) and calibrate on a small slice of ../shared/data, checks
# the outputs (result.json parses, non-zero throughput, no errors, counts add up, PNGs written), stops the server with
# SIGTERM and requires a clean exit. On the way, samples/python's client (stubs from a stock protoc) runs against it. Exits non-zero on any failure. SEMCACHE_DATA overrides the data folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
data="${SEMCACHE_DATA:-$root/../shared/data}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

for file in qqp-dev.tsv gptcache-mock-paraphrases.tsv; do
  [ -f "$data/$file" ] || { echo "smoke: $data/$file not found (set SEMCACHE_DATA)"; exit 1; }
done

dotnet build src/CacheServer -c Release -nologo -v quiet
dotnet build bench/SemCache.LoadTool -c Release -nologo -v quiet
bench=(dotnet artifacts/bin/SemCache.LoadTool/release/semcache-bench.dll)
server_dll=artifacts/bin/SemCache.CacheServer/release/semcache-server.dll

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "smoke: FAILED: $*"
  echo "--- server log (last 40 lines) ---"
  tail -n 40 "$work/server.log" 2>/dev/null || true
  exit 1
}

grpc_port="$("${bench[@]}" free-port)"
http_port="$("${bench[@]}" free-port)"
while [ "$http_port" = "$grpc_port" ]; do http_port="$("${bench[@]}" free-port)"; done

dotnet "$server_dll" --port "$grpc_port" --http-port "$http_port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
"${bench[@]}" wait-ready --http-port "$http_port" --timeout 120 || fail "server not ready"
grep -q "SemCache serving" "$work/server.log" || fail "server log has no 'SemCache serving' line"

common=(--port "$grpc_port" --no-progress --warmup 1 --concurrency 4)
qqp="$data/qqp-dev.tsv"
"${bench[@]}" pairs "${common[@]}" --pairs "$qqp" --limit 60 --out "$work/pairs" >"$work/pairs.log" 2>&1 || { cat "$work/pairs.log"; fail "pairs"; }
"${bench[@]}" exact "${common[@]}" --pairs "$qqp" --limit 50 --duration 2 --out "$work/exact" >"$work/exact.log" 2>&1 || { cat "$work/exact.log"; fail "exact"; }
"${bench[@]}" mixed "${common[@]}" --pairs "$qqp" --limit 400 --duration 3 --out "$work/mixed" >"$work/mixed.log" 2>&1 || { cat "$work/mixed.log"; fail "mixed"; }
"${bench[@]}" mixed "${common[@]}" --pairs "$qqp" --limit 400 --duration 2 --rate 20 --out "$work/mixed-rate" >"$work/mixed-rate.log" 2>&1 || { cat "$work/mixed-rate.log"; fail "mixed --rate"; }
"${bench[@]}" calibrate "${common[@]}" --pairs "$data/gptcache-mock-paraphrases.tsv" --limit 60 --out "$work/calibrate" >"$work/calibrate.log" 2>&1 || { cat "$work/calibrate.log"; fail "calibrate"; }

"${bench[@]}" verify "$work/pairs" "$work/exact" "$work/mixed" "$work/mixed-rate" "$work/calibrate" || fail "outputs"
for run in pairs exact mixed mixed-rate calibrate; do
  printf '%-10s %s\n' "$run" "$(grep -m1 -A2 '^| operation' "$work/$run/summary.md" | tail -n1)"
done

# A client in another language, from stubs a stock protoc generates out of proto/ (samples/python).
python_ok=skipped
if command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null && /usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null; then
  bash samples/python/run.sh "127.0.0.1:$grpc_port" >"$work/python.log" 2>&1 || { cat "$work/python.log"; fail "python client"; }
  python_ok=ok
else
  echo "smoke: python client skipped (needs protoc, grpc_python_plugin and Debian's python3-grpcio and python3-protobuf)"
fi

# The server must stop cleanly on SIGTERM.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || fail "server exited with $status after SIGTERM"
echo "smoke: ok (pairs, exact, mixed, mixed --rate, calibrate; python client: $python_ok)"
