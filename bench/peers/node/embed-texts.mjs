// The transformers.js side of bench/side-by-side.sh: embeds a slice of a texts file written by `semcache-bench texts`
// (one text a line), the very texts the server was sent, and prints one JSON line.
//   node embed-texts.mjs <models folder prepared by prepare-model.mjs> --texts FILE [--offset O] [--take N] --mode lone|batch32
// lone: one text at a time in process (latency of each call: p50, mean); batch32: batches of 32 consecutive texts
// (throughput, texts/s). transformers.js 4.3 fp32 with its defaults (its own tokenizer, mean pooling + normalise).
import { pipeline, env } from '@huggingface/transformers';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const modelsDir = path.resolve(process.argv[2] ?? 'models');
const file = arg('texts');
const mode = arg('mode', 'lone');
const offset = Number(arg('offset', 0));
if (!file || !['lone', 'batch32'].includes(mode)) {
  console.error('usage: node embed-texts.mjs <models> --texts FILE [--offset O] [--take N] --mode lone|batch32');
  process.exit(2);
}
const all = fs.readFileSync(file, 'utf8').split('\n').filter(l => l.length > 0);
const take = Number(arg('take', all.length - offset));
const texts = all.slice(offset, offset + take);
if (texts.length !== take || take < 1) {
  console.error(`embed-texts: ${file} has ${all.length} texts; --offset ${offset} --take ${take} does not fit`);
  process.exit(2);
}

env.localModelPath = modelsDir + '/';
env.allowRemoteModels = false;
const extractor = await pipeline('feature-extraction', 'all-MiniLM-L6-v2', { dtype: 'fp32', local_files_only: true });
const embed = t => extractor(t, { pooling: 'mean', normalize: true });
const check = await embed('This is an example sentence');

// Warm-up on other words than the measured ones (transformers.js keeps no cache, but the first calls pay for setup).
for (let i = 0; i < 3; i++) await embed(texts.slice(0, 32).map(t => `${t} (warm-up)`));
for (let i = 0; i < 20; i++) await embed(`${texts[i % texts.length]} (warm-up)`);

const result = { peer: 'transformers.js 4.3.1 fp32', mode, texts: texts.length, offset, file: path.resolve(file), cpus: os.cpus().length, node: process.version, check: Array.from(check.data.slice(0, 3)).map(v => +v.toFixed(6)) };
const started = performance.now();
if (mode === 'lone') {
  const ms = [];
  for (const t of texts) {
    const t0 = performance.now();
    await embed(t);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  result.p50_ms = +ms[Math.floor((ms.length - 1) * 0.5)].toFixed(3);
  result.p99_ms = +ms[Math.floor((ms.length - 1) * 0.99)].toFixed(3);
  result.mean_ms = +(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(3);
} else {
  for (let i = 0; i < texts.length; i += 32) await embed(texts.slice(i, i + 32));
}
const seconds = (performance.now() - started) / 1000;
result.seconds = +seconds.toFixed(3);
result.per_s = +(texts.length / seconds).toFixed(1);
console.log(JSON.stringify(result));
