#!/usr/bin/env node
// Load a GGUF with real llama.cpp (node-llama-cpp's prebuilt CPU build) and
// greedily generate a few tokens: the demo's proof that the file runs.
//
//   node tools/demo-generate.mjs MODEL.gguf [PROMPT] [N_TOKENS]
import { getLlama } from 'node-llama-cpp';

const [modelPath, prompt = 'Once upon a time', nArg = '16'] = process.argv.slice(2);
if (!modelPath) {
  console.error('usage: node tools/demo-generate.mjs MODEL.gguf [PROMPT] [N_TOKENS]');
  process.exit(2);
}
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true,
                               skipDownload: true, logLevel: 'error' });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath });
const loadMs = performance.now() - t0;
const context = await model.createContext({ contextSize: 256 });
const sequence = context.getSequence();
const tokens = model.tokenize(prompt);
const out = [];
for await (const token of sequence.evaluate(tokens, { temperature: 0 })) {
  out.push(token);
  if (out.length >= Number(nArg)) break;
}
console.log(`loaded ${modelPath} in ${loadMs.toFixed(0)} ms (${model.trainContextSize} ctx, ${model.fileInfo.tensorCount} tensors)`);
console.log(`prompt: ${JSON.stringify(prompt)} -> ${tokens.length} tokens`);
console.log(`generated ${out.length} tokens: ${JSON.stringify(model.detokenize(out))}`);
await context.dispose();
await model.dispose();
