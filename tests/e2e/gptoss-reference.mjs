// Independent float64 reference forward pass of a HuggingFace
// GptOssForCausalLM (transformers' modeling_gpt_oss), read from the
// safetensors by reference.mjs's loader; shares nothing with gguffs.
//
//   const { logits, minMargin } = gptossForward(loadHfModel(dir), tokenIds);
//
// Semantics: RMSNorm; q/k/v/o with biases; rotate_half RoPE with yarn
// (transformers' _compute_yarn_parameters, `truncate` honoured) and its
// attention factor on cos/sin; per-head sinks joining the softmax;
// layer_types alternating sliding_window and full attention; router
// linear + bias, top-k on the logits, softmax over the chosen ones;
// experts dequantized from MXFP4 as convert_moe_packed_tensors does (FP4
// code from the low nibble for element 2j, high nibble for 2j+1, times
// 2^(scale - 127)); gate/up interleaved along the gate_up rows (even gate,
// odd up); gate clamped above at swiglu_limit, up clamped to +-limit,
// glu = gate * sigmoid(1.702 gate), out = (up + 1) * glu.

import { matvec, rmsnorm } from './reference.mjs';
import { ropeHalf, attend } from './refmath.mjs';

const FP4 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];
const ALPHA = 1.702;

// [E, R, G, 16] blocks + [E, R, G] scales -> Float64Array [E, R, G * 32].
export function dequantMxfp4(blocks, scales) {
  const out = new Float64Array(blocks.length * 2);
  for (let b = 0; b < scales.length; b++) {
    const s = Math.pow(2, scales[b] - 127);
    for (let j = 0; j < 16; j++) {
      const byte = blocks[b * 16 + j];
      out[b * 32 + 2 * j] = FP4[byte & 15] * s;
      out[b * 32 + 2 * j + 1] = FP4[byte >> 4] * s;
    }
  }
  return out;
}

// transformers' yarn: {inv, mscale}.
export function yarnInvFreq(c) {
  const rs = c.rope_scaling, base = c.rope_theta, dim = c.head_dim;
  const factor = rs.factor, orig = rs.original_max_position_embeddings;
  const mscale = rs.attention_factor ?? (factor <= 1 ? 1 : 0.1 * Math.log(factor) + 1);
  const betaFast = rs.beta_fast ?? 32, betaSlow = rs.beta_slow ?? 1;
  const corr = rot => (dim * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(base));
  let low = corr(betaFast), high = corr(betaSlow);
  if (rs.truncate ?? true) { low = Math.floor(low); high = Math.ceil(high); }
  low = Math.max(low, 0); high = Math.min(high, dim - 1);
  if (low === high) high += 0.001;
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const pf = Math.pow(base, (2 * i) / dim);
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrap = 1 - ramp;
    inv[i] = (1 / (factor * pf)) * (1 - extrap) + (1 / pf) * extrap;
  }
  return { inv, mscale };
}

// Returns {logits, minMargin}: minMargin is the smallest gap, over every
// token and layer, between the last chosen and the first rejected router
// logit (a near tie makes the comparison meaningless).
export function gptossForward(m, tokens) {
  const c = m.config;
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  const L = c.num_hidden_layers, E = c.num_local_experts, K = c.num_experts_per_tok ?? c.experts_per_token;
  const I = c.intermediate_size, eps = c.rms_norm_eps, limit = c.swiglu_limit ?? 7;
  const V = m.shape('model.embed_tokens.weight')[0];
  const { inv, mscale } = yarnInvFreq(c);
  const emb = m.get('model.embed_tokens.weight');
  let xs = tokens.map(t => Float64Array.from(emb.subarray(t * H, (t + 1) * H)));
  const T = tokens.length;
  let minMargin = Infinity;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`, a = p + 'self_attn.', x = p + 'mlp.experts.';
    const window = c.layer_types[l] === 'sliding_attention' ? c.sliding_window : 0;
    const Q = [], Kc = [], Vc = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm(xs[t], m.get(p + 'input_layernorm.weight'), eps);
      const q = matvec(m.get(a + 'q_proj.weight'), h, nh * hd, H, m.get(a + 'q_proj.bias'));
      const k = matvec(m.get(a + 'k_proj.weight'), h, nkv * hd, H, m.get(a + 'k_proj.bias'));
      ropeHalf(q, nh, hd, hd, t, inv, mscale);
      ropeHalf(k, nkv, hd, hd, t, inv, mscale);
      Q.push(q); Kc.push(k); Vc.push(matvec(m.get(a + 'v_proj.weight'), h, nkv * hd, H, m.get(a + 'v_proj.bias')));
    }
    const gateUp = dequantMxfp4(m.get(x + 'gate_up_proj_blocks'), m.get(x + 'gate_up_proj_scales'));
    const down = dequantMxfp4(m.get(x + 'down_proj_blocks'), m.get(x + 'down_proj_scales'));
    const guBias = m.get(x + 'gate_up_proj_bias'), dBias = m.get(x + 'down_proj_bias');
    const next = [];
    for (let t = 0; t < T; t++) {
      const att = attend(Q, Kc, Vc, t, { nh, nkv, hd, scale: 1 / Math.sqrt(hd), window, sinks: m.get(a + 'sinks') });
      const o = matvec(m.get(a + 'o_proj.weight'), att, H, nh * hd, m.get(a + 'o_proj.bias'));
      const y = Float64Array.from(xs[t], (v, i) => v + o[i]);
      const h2 = rmsnorm(y, m.get(p + 'post_attention_layernorm.weight'), eps);
      const r = matvec(m.get(p + 'mlp.router.weight'), h2, E, H, m.get(p + 'mlp.router.bias'));
      const order = Array.from(r.keys()).sort((i, j) => r[j] - r[i]);
      if (K < E) minMargin = Math.min(minMargin, r[order[K - 1]] - r[order[K]]);
      const top = order.slice(0, K), mx = r[top[0]];
      const ws = top.map(e => Math.exp(r[e] - mx)), wsum = ws.reduce((u, v) => u + v, 0);
      top.forEach((e, j) => {
        const gu = matvec(gateUp.subarray(e * 2 * I * H, (e + 1) * 2 * I * H), h2, 2 * I, H, guBias.subarray(e * 2 * I));
        const act = new Float64Array(I);
        for (let i = 0; i < I; i++) {
          const g = Math.min(gu[2 * i], limit), u = Math.min(Math.max(gu[2 * i + 1], -limit), limit);
          act[i] = (u + 1) * (g / (1 + Math.exp(-ALPHA * g)));
        }
        const d = matvec(down.subarray(e * H * I, (e + 1) * H * I), act, H, I, dBias.subarray(e * H));
        for (let i = 0; i < H; i++) y[i] += (ws[j] / wsum) * d[i];
      });
      next.push(y);
    }
    xs = next;
  }
  const hN = rmsnorm(xs[T - 1], m.get('model.norm.weight'), eps);
  return { logits: matvec(m.get('lm_head.weight'), hN, V, H), minMargin };
}
