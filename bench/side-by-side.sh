#!/usr/bin/env bash
# Issue 10's side-by-side, in one command: SemCache through its gRPC server next to transformers.js (the same model
# file, the same Quora texts) and next to Redis (exact Gets), with a table of ratios against the issue's goals and a chart.
#
#   bash bench/side-by-side.sh [--quick] [--out DIR] [--rounds N] [--no-build] [-- server args...]
#
#   --quick      smaller slices, one round, shorter steps: about 3 minutes instead of about 10
#   --out DIR    where everything goes (default bench/SemCache.LoadTool/results/side-by-side-<UTC time>, git-ignored)
#   --rounds N   rounds of the server/transformers.js alternation (default 2; 1 with --quick); medians are reported
#   --no-build   use the Release build already in artifacts/
#   -- ARGS      passed to semcache-server as they are, e.g. -- --Embedding:IntraOpThreads 2 (or, once it exists,
#                -- --Embedding:Precision Int8: the report then holds the throughput row to the int8 goal of 3x)
#
# What it does: builds the server and semcache-bench (Release) once; cuts the texts from ../shared/data/qqp-dev.tsv
# (2,000 stored q1s, queries never stored and never repeated, 20,000 for the bulk load, the rest for the mixed load);
# starts the server on free loopback ports with a fresh temporary data directory; preloads the 2,000 entries; then per
# round, alternating so that machine noise hits both sides: the Embed RPC one text at a time, one Get at a time /
# transformers.js one text at a time, 32 concurrent Gets / transformers.js batch-32 on the same texts, and (first round)
# the SetMany bulk load / transformers.js batch-32 on the bulk texts; the knee of 64 mixed clients (70 % Get, 30 % Set)
# at fixed rates; exact Gets with h2load against Redis GET with redis-benchmark at 16 and 64 connections (Redis on a
# free port, no persistence); and finally `semcache-bench side-by-side-report`, which writes DIR/summary.md (the
# table), DIR/summary.json, DIR/side-by-side.png and DIR/knee.png. Every workload's own result folder stays in DIR.
#
# Peers that are missing are installed when possible: redis-server and h2load (Debian packages redis-server,
# nghttp2-client) with apt-get, as root only; transformers.js with npm into bench/peers/node. A peer that cannot be
# had is skipped, and the table says so. Node.js itself is not installed by the script. SEMCACHE_DATA overrides the
# data folder. The server and Redis are stopped on every exit (trap); a failing step stops the run with its log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

quick=0 build=1 rounds="" out="" server_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --out) out="${2:?--out needs a folder}"; shift ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift ;;
    --) shift; server_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "side-by-side: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  mode=quick; rounds=${rounds:-1}
  n_alone=100 n_32=640 n_embed=100 n_bulk=4000 n_peer_bulk=640
  knee_probe=2 knee_step=4 knee_steps=7 exact_seconds=4 redis_requests=100000
else
  mode=full; rounds=${rounds:-2}
  n_alone=300 n_32=2048 n_embed=300 n_bulk=20000 n_peer_bulk=2048
  knee_probe=3 knee_step=8 knee_steps=9 exact_seconds=8 redis_requests=300000
fi
bulk_batch=500 mixed_clients=64 exact_concurrency=(16 64)
case "$rounds" in ''|*[!0-9]*|0) echo "side-by-side: --rounds must be a positive number" >&2; exit 2 ;; esac

data="${SEMCACHE_DATA:-$root/../shared/data}"
qqp="$data/qqp-dev.tsv"
[ -f "$qqp" ] || { echo "side-by-side: $qqp not found (set SEMCACHE_DATA to the folder holding qqp-dev.tsv)" >&2; exit 1; }
out="${out:-bench/SemCache.LoadTool/results/side-by-side-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
: >"$out/skipped.txt"
work="$(mktemp -d)"
server_pid="" redis_pid="" redis_port=""

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "side-by-side: interrupted" >&2; exit 130' INT TERM

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
skip() { echo "$1" >>"$out/skipped.txt"; say "SKIPPED: $1"; }
fail() {
  echo "side-by-side: FAILED: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && { echo "--- $2 (last 30 lines) ---" >&2; tail -n 30 "$2" >&2; }
  [ -f "$out/server.log" ] && { echo "--- server log (last 20 lines) ---" >&2; tail -n 20 "$out/server.log" >&2; }
  exit 1
}
# step NAME LOG COMMAND...: runs a step with its output in LOG, stopping the run with the log's tail when it fails.
step() {
  local name="$1" log="$2"; shift 2
  say "$name"
  "$@" >"$log" 2>&1 || fail "$name" "$log"
}

# --- peers: install what is missing, where that is possible -------------------------------------------------------
apt_install() { # apt_install PACKAGE: true when it got installed
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  say "installing $1 with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1"; } >"$out/apt-$1.log" 2>&1
}
have_redis=1 have_h2load=1 have_node=1
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || ! command -v redis-cli >/dev/null; then
  apt_install redis-server && command -v redis-benchmark >/dev/null || { have_redis=0; skip "Redis: redis-server/redis-benchmark missing and apt-get not possible here (not root, no apt-get, or no network): the Redis column is empty"; }
fi
if ! command -v h2load >/dev/null; then
  apt_install nghttp2-client && command -v h2load >/dev/null || { have_h2load=0; skip "h2load: missing and apt-get not possible here (package nghttp2-client): the exact-Get gRPC column is empty"; }
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  have_node=0; skip "transformers.js: node/npm not installed (the script does not install Node.js): its column is empty"
fi

# --- build once ---------------------------------------------------------------------------------------------------
if [ "$build" = 1 ]; then
  step "build (Release): server and semcache-bench" "$out/build.log" \
    bash -c 'dotnet build src/CacheServer -c Release -nologo -v quiet && dotnet build bench/SemCache.LoadTool -c Release -nologo -v quiet'
fi
bench=(dotnet "$root/artifacts/bin/SemCache.LoadTool/release/semcache-bench.dll")
server_dll="$root/artifacts/bin/SemCache.CacheServer/release/semcache-server.dll"
models="$root/artifacts/bin/SemCache.CacheServer/release/models/all-MiniLM-L6-v2"
[ -f "$server_dll" ] && [ -f "${bench[1]}" ] || fail "no Release build in artifacts/ (run without --no-build)"

if [ "$have_node" = 1 ]; then
  node_dir="$root/bench/peers/node"
  if [ ! -d "$node_dir/node_modules/@huggingface/transformers" ]; then
    say "npm install (transformers.js 4.3.1, onnxruntime-node 1.30.0) in bench/peers/node"
    (cd "$node_dir" && npm install --no-audit --no-fund --silent) >"$out/npm.log" 2>&1 \
      || { have_node=0; skip "transformers.js: npm install failed (no network?), see npm.log: its column is empty"; }
  fi
fi
if [ "$have_node" = 1 ]; then
  (cd "$node_dir" && node prepare-model.mjs "$models" models) >"$out/prepare-model.log" 2>&1 || fail "prepare-model.mjs" "$out/prepare-model.log"
fi
peer() { # peer OUT.json ARGS...: transformers.js on a slice of a texts file (nothing when it is skipped)
  local json="$1"; shift
  [ "$have_node" = 1 ] || return 0
  say "transformers.js $*"
  node "$node_dir/embed-texts.mjs" "$node_dir/models" "$@" >"$json.log" 2>&1 || fail "transformers.js $*" "$json.log"
  tail -n 1 "$json.log" >"$json"
}

# --- texts: every workload its own slice, nothing sent twice --------------------------------------------------------
per_round=$((n_alone + n_32 + n_embed))
step "texts from $(basename "$qqp")" "$out/texts.log" \
  "${bench[@]}" texts --pairs "$qqp" --out "$out/texts" --stored 2000 --queries $((rounds * per_round)) --bulk "$n_bulk"
texts="$out/texts"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "command: bash bench/side-by-side.sh $([ "$quick" = 1 ] && echo --quick) --rounds $rounds $([ ${#server_args[@]} -gt 0 ] && echo "-- ${server_args[*]}")"
  echo "mode: $mode"
  echo "code: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
  echo "server args: ${server_args[*]:-(defaults)}"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "texts: $qqp (stored 2,000 q1s; queries $((rounds * per_round)); bulk $n_bulk)"
  echo "bulk batch: $bulk_batch"
  echo "mixed clients: $mixed_clients"
} >"$out/run.txt"

# --- the server ---------------------------------------------------------------------------------------------------
grpc_port="$("${bench[@]}" free-port)"
http_port="$("${bench[@]}" free-port)"
while [ "$http_port" = "$grpc_port" ]; do http_port="$("${bench[@]}" free-port)"; done
say "starting semcache-server on 127.0.0.1:$grpc_port (gRPC) / :$http_port (HTTP), data in $work/data ${server_args[*]:-}"
dotnet "$server_dll" --port "$grpc_port" --http-port "$http_port" --data-dir "$work/data" "${server_args[@]}" >"$out/server.log" 2>&1 &
server_pid=$!
"${bench[@]}" wait-ready --http-port "$http_port" --timeout 180 >"$out/wait-ready.log" 2>&1 || fail "the server did not get ready" "$out/server.log"

ns="side-by-side-$(date -u +%H%M%S)"
common=(--port "$grpc_port" --no-progress)
shared=(--namespace "$ns" --keep-namespace)
step "preload 2,000 stored entries into namespace $ns" "$out/preload.log" \
  "${bench[@]}" preload "${common[@]}" "${shared[@]}" --texts "$texts/stored.txt" --out "$out/preload"

# settle: wait (up to 60 s) until the server has used under 5 % of a core for a whole second, so that what a bulk write
# leaves running in the background (the index snapshot, a checkpoint) is not charged to the first step after it.
settle() {
  local ticks="$(getconf CLK_TCK)" before after i
  for i in $(seq 1 60); do
    before=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    sleep 1
    after=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
    [ $(((after - before) * 100)) -lt $((ticks * 5)) ] && return 0
  done
  say "the server did not settle in 60 s (still busy in the background); going on"
}
settle

# --- rounds: server and transformers.js alternate -------------------------------------------------------------------
for round in $(seq 1 "$rounds"); do
  r="$out/rounds/r$round"
  mkdir -p "$r"
  base=$(((round - 1) * per_round))
  alone=(--texts "$texts/queries.txt" --offset "$base" --take "$n_alone")
  many=(--texts "$texts/queries.txt" --offset $((base + n_alone)) --take "$n_32")
  embed=(--texts "$texts/queries.txt" --offset $((base + n_alone + n_32)) --take "$n_embed")
  # Embed and one Get at a time back to back (their ratio is server against server), in turn first (odd rounds: Embed
  # first), then transformers.js.
  embed_step() {
    step "round $round: Embed RPC, one text at a time ($n_embed texts)" "$r/embed-1.log" \
      "${bench[@]}" embed "${common[@]}" "${embed[@]}" --concurrency 1 --out "$r/embed-1"
  }
  [ $((round % 2)) = 1 ] && embed_step
  step "round $round: one Get at a time ($n_alone new prompts)" "$r/gets-1.log" \
    "${bench[@]}" unique-gets "${common[@]}" "${shared[@]}" "${alone[@]}" --concurrency 1 --out "$r/gets-1"
  [ $((round % 2)) = 0 ] && embed_step
  peer "$r/peer-lone.json" "${alone[@]}" --mode lone
  step "round $round: 32 concurrent Gets ($n_32 new prompts)" "$r/gets-32.log" \
    "${bench[@]}" unique-gets "${common[@]}" "${shared[@]}" "${many[@]}" --concurrency 32 --out "$r/gets-32"
  peer "$r/peer-batch32.json" "${many[@]}" --mode batch32
  if [ "$round" = 1 ]; then
    # The bulk load runs once: it is the longest step, and one 20,000-entry load is what the issue asks for.
    step "SetMany bulk load ($n_bulk entries, batches of $bulk_batch)" "$r/bulk.log" \
      "${bench[@]}" bulk "${common[@]}" --texts "$texts/bulk.txt" --batch "$bulk_batch" --concurrency 2 --out "$r/bulk"
    peer "$r/peer-bulk.json" --texts "$texts/bulk.txt" --take "$n_peer_bulk" --mode batch32
    settle
  fi
done

# --- the knee of the mixed load -------------------------------------------------------------------------------------
step "knee: $mixed_clients mixed clients (70 % Get, 30 % Set), fixed rates of ${knee_step} s" "$out/knee.log" \
  "${bench[@]}" knee "${common[@]}" "${shared[@]}" --texts "$texts/mixed.txt" --concurrency "$mixed_clients" \
  --probe-seconds "$knee_probe" --step-seconds "$knee_step" --max-steps "$knee_steps" --out "$out/knee"

# --- exact Gets: h2load over gRPC against redis-benchmark GET, same connections, alternating --------------------------
prompt="$(head -n 1 "$texts/stored.txt")"
if [ "$have_h2load" = 1 ]; then
  step "gRPC body for h2load (checked to be an exact hit)" "$out/grpc-body.log" \
    "${bench[@]}" grpc-body --port "$grpc_port" --namespace "$ns" --texts "$texts/stored.txt" --line 0 --out "$out/get-exact.grpc"
fi
if [ "$have_redis" = 1 ]; then
  redis_port="$("${bench[@]}" free-port)"
  while [ "$redis_port" = "$grpc_port" ] || [ "$redis_port" = "$http_port" ]; do redis_port="$("${bench[@]}" free-port)"; done
  say "starting redis-server on 127.0.0.1:$redis_port (--save '' --appendonly no)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$out/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 || fail "redis-server did not start" "$out/redis.log"
  # redis-benchmark's GET asks for the literal key "key:__rand_int__" (no -r): store it, with the answer SemCache holds.
  redis-cli -p "$redis_port" set 'key:__rand_int__' "cached answer to: $prompt" >/dev/null
fi
for round in $(seq 1 "$rounds"); do
  for c in "${exact_concurrency[@]}"; do
    e="$out/exact/r$round/c$c"
    mkdir -p "$e"
    if [ "$have_h2load" = 1 ]; then
      "${bench[@]}" stats --port "$grpc_port" --namespace "$ns" >"$e/stats-before.json"
      step "round $round: exact Gets, h2load, $c connections, ${exact_seconds} s" "$e/h2load.txt" \
        h2load -t 1 -c "$c" -m 1 -D "$exact_seconds" --warm-up-time 1 \
        -H 'content-type: application/grpc' -H 'te: trailers' -d "$out/get-exact.grpc" \
        "http://127.0.0.1:$grpc_port/semcache.v1.SemanticCache/Get"
      "${bench[@]}" stats --port "$grpc_port" --namespace "$ns" >"$e/stats-after.json"
    fi
    if [ "$have_redis" = 1 ]; then
      step "round $round: Redis GET, redis-benchmark, $c connections, $redis_requests requests" "$e/redis.csv" \
        redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$c" -n "$redis_requests" -t get --csv
    fi
  done
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/run.txt"
# The server must stop cleanly: a crash under load would make every figure above suspect.
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || fail "the server exited with $status after SIGTERM" "$out/server.log"

say "report"
report_status=0
"${bench[@]}" side-by-side-report "$out" || report_status=$?
say "results: $out/summary.md, $out/side-by-side.png, $out/knee.png"
exit "$report_status"
