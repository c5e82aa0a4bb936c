// The embedding workloads of SemCache's `semcache-eval speed`, run by two other stacks on the same model file:
//   transformers.js (fp32, its own tokenizer, mean pooling + normalise) and bare onnxruntime-node (pre-tokenised).
//   node embed-peers.mjs <models folder prepared by prepare-model.mjs> [--seconds 10]
import { pipeline, env, AutoTokenizer } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import os from 'node:os';
import path from 'node:path';

const modelsDir = path.resolve(process.argv[2] ?? 'models');
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] ?? 10) || 10;
env.localModelPath = modelsDir + '/';
env.allowRemoteModels = false;

const SHORT = 'How do I reset my password if I no longer have access to my email?';
const subjects = ['my password', 'a python list', 'the kitchen sink', 'a flat tyre', 'my resume', 'the router', 'a git branch', 'my taxes',
  'sourdough bread', 'a cover letter', 'the thermostat', 'a docker image', 'my phone battery', 'a job interview', 'the lawn mower', 'an excel pivot table'];
const frames = ['How do I fix {0}?', 'What is the best way to clean {0} quickly?', 'Can you explain how {0} works in simple terms?', 'Why does {0} keep failing after the latest update?'];
const MIXED = subjects.flatMap(s => frames.map(f => f.replace('{0}', s)));

async function timeFor(fn) {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) n += await fn(n);
  return { n, ms: performance.now() - start };
}

async function closedLoop(callers, embedOne) {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    for (let i = c; performance.now() < end; i += callers) { await embedOne(MIXED[i % MIXED.length]); n++; }
  }));
  return { n, ms: performance.now() - start };
}

const results = { machine: { cpus: os.cpus().length, model: os.cpus()[0].model }, node: process.version, ort: ort.env.versions?.common };

// transformers.js, fp32, the full pipeline.
const extractor = await pipeline('feature-extraction', 'all-MiniLM-L6-v2', { dtype: 'fp32', local_files_only: true });
const check = await extractor('This is an example sentence', { pooling: 'mean', normalize: true });
results.transformersjs_check = Array.from(check.data.slice(0, 3)).map(v => +v.toFixed(6));
await closedLoop(1, t => extractor(t, { pooling: 'mean', normalize: true }));
let r = await timeFor(async () => { await extractor(SHORT, { pooling: 'mean', normalize: true }); return 1; });
results.transformersjs_lone_ms = +(r.ms / r.n).toFixed(3);
r = await closedLoop(32, t => extractor(t, { pooling: 'mean', normalize: true }));
results.transformersjs_32_callers_per_s = +(r.n * 1000 / r.ms).toFixed(1);
r = await timeFor(async i => { await extractor(MIXED.slice((i * 32) % MIXED.length, (i * 32) % MIXED.length + 32), { pooling: 'mean', normalize: true }); return 32; });
results.transformersjs_batch32_per_s = +(r.n * 1000 / r.ms).toFixed(1);

// Bare onnxruntime-node on the same model file, pre-tokenised ids, batch 1, default session options.
const tokenizer = await AutoTokenizer.from_pretrained('all-MiniLM-L6-v2', { local_files_only: true });
const session = await ort.InferenceSession.create(path.join(modelsDir, 'all-MiniLM-L6-v2', 'onnx', 'model.onnx'), { graphOptimizationLevel: 'all', intraOpNumThreads: os.cpus().length });
const ids = tokenizer(SHORT).input_ids.data;
const feeds = () => {
  const shape = [1, ids.length];
  return {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), shape),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length), shape),
  };
};
results.ort_tokens = ids.length;
await session.run(feeds());
r = await timeFor(async () => { await session.run(feeds()); return 1; });
results.onnxruntime_node_lone_ms = +(r.ms / r.n).toFixed(3);

console.log(JSON.stringify(results));
