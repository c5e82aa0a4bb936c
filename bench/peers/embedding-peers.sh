#!/usr/bin/env bash
# SemCache's embedding engine and two other stacks on the same model file, same workloads, alternating A B A B so
# that machine noise hits both: `semcache-eval speed` (C#, ONNX Runtime 1.31) and embed-peers.mjs (transformers.js
# 4.3 fp32 and bare onnxruntime-node 1.30). Prints one JSON line per run.
#   bash bench/peers/embedding-peers.sh [seconds per workload, default 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
dotnet build -c Release bench/SemCache.Evaluation >/dev/null
models=$PWD/artifacts/bin/SemCache.Evaluation/release/models/all-MiniLM-L6-v2
(cd bench/peers/node && npm install --no-audit --no-fund --silent && node prepare-model.mjs "$models" models >/dev/null)
for round in 1 2; do
  echo "semcache   $(dotnet run -c Release --no-build --project bench/SemCache.Evaluation -- speed --seconds "$seconds")"
  echo "node-peers $(node bench/peers/node/embed-peers.mjs bench/peers/node/models --seconds "$seconds")"
done
