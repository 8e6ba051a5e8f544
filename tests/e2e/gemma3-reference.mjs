// Independent float64 reference forward pass of the text model of a
// HuggingFace Gemma3ForCausalLM or Gemma3ForConditionalGeneration
// (transformers' modeling_gemma3), read from the safetensors by
// reference.mjs's loader; shares nothing with gguffs.
//
//   const logits = gemma3Forward(loadHfModel(dir), tokenIds);
//
// Semantics: embeddings times sqrt(hidden_size) (exact for the fixtures'
// hidden sizes, so its rounding to the weight dtype does not matter);
// Gemma3RMSNorm x / rms(x) * (1 + w) for every norm; per-head q_norm and
// k_norm before a rotate_half RoPE; local layers (layer_types, else
// sliding_window_pattern) with rope_local_base_freq and a sliding window,
// global layers with rope_theta and the configured linear rope scaling;
// scores scaled by query_pre_attn_scalar^-0.5; sandwich norms around
// attention and MLP; gelu_pytorch_tanh(gate) * up; tied output head;
// final_logit_softcapping when set.

import { matvec } from './reference.mjs';
import { ropeHalf, attend, baseInvFreq } from './refmath.mjs';

function rmsnorm1p(x, w, eps, off = 0, n = x.length) {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[off + i] * x[off + i];
  const r = 1 / Math.sqrt(ss / n + eps);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = x[off + i] * r * (1 + w[i]);
  return y;
}

// Per-head norm in place over nHeads heads of hd.
function headNorm(v, nHeads, hd, w, eps) {
  for (let h = 0; h < nHeads; h++) v.set(rmsnorm1p(v, w, eps, h * hd, hd), h * hd);
}

const geluTanh = x => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

export function gemma3Forward(m, tokens) {
  const top = m.config, c = top.text_config ? { ...top.text_config } : top;
  const lm = top.text_config ? 'language_model.model.' : 'model.';
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  const I = c.intermediate_size, L = c.num_hidden_layers, eps = c.rms_norm_eps ?? 1e-6;
  const emb = m.get(lm + 'embed_tokens.weight'), V = m.shape(lm + 'embed_tokens.weight')[0];
  const local = l => (c.layer_types ? c.layer_types[l] === 'sliding_attention' : (l + 1) % c.sliding_window_pattern !== 0);
  const invLocal = baseInvFreq(c.rope_local_base_freq ?? 10000, hd);
  const invGlobal = baseInvFreq(c.rope_theta ?? 1e6, hd);
  const rs = c.rope_scaling;
  if (rs && (rs.rope_type ?? rs.type) === 'linear') for (let i = 0; i < invGlobal.length; i++) invGlobal[i] /= rs.factor;
  else if (rs) throw new Error(`reference: rope_scaling ${JSON.stringify(rs)} not implemented`);
  const scale = Math.pow(c.query_pre_attn_scalar ?? hd, -0.5), embScale = Math.sqrt(H);
  let xs = tokens.map(t => Float64Array.from(emb.subarray(t * H, (t + 1) * H), v => v * embScale));
  const T = tokens.length;
  for (let l = 0; l < L; l++) {
    const p = `${lm}layers.${l}.`, a = p + 'self_attn.';
    const inv = local(l) ? invLocal : invGlobal, window = local(l) ? c.sliding_window : 0;
    const Q = [], K = [], Vv = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm1p(xs[t], m.get(p + 'input_layernorm.weight'), eps);
      const q = matvec(m.get(a + 'q_proj.weight'), h, nh * hd, H), k = matvec(m.get(a + 'k_proj.weight'), h, nkv * hd, H);
      headNorm(q, nh, hd, m.get(a + 'q_norm.weight'), eps);
      headNorm(k, nkv, hd, m.get(a + 'k_norm.weight'), eps);
      ropeHalf(q, nh, hd, hd, t, inv);
      ropeHalf(k, nkv, hd, hd, t, inv);
      Q.push(q); K.push(k); Vv.push(matvec(m.get(a + 'v_proj.weight'), h, nkv * hd, H));
    }
    const next = [];
    for (let t = 0; t < T; t++) {
      const att = attend(Q, K, Vv, t, { nh, nkv, hd, scale, window });
      const o = rmsnorm1p(matvec(m.get(a + 'o_proj.weight'), att, H, nh * hd), m.get(p + 'post_attention_layernorm.weight'), eps);
      const x = Float64Array.from(xs[t], (v, i) => v + o[i]);
      const h2 = rmsnorm1p(x, m.get(p + 'pre_feedforward_layernorm.weight'), eps);
      const g = matvec(m.get(p + 'mlp.gate_proj.weight'), h2, I, H), u = matvec(m.get(p + 'mlp.up_proj.weight'), h2, I, H);
      for (let i = 0; i < I; i++) g[i] = geluTanh(g[i]) * u[i];
      const d = rmsnorm1p(matvec(m.get(p + 'mlp.down_proj.weight'), g, H, I), m.get(p + 'post_feedforward_layernorm.weight'), eps);
      for (let i = 0; i < H; i++) x[i] += d[i];
      next.push(x);
    }
    xs = next;
  }
  const hN = rmsnorm1p(xs[T - 1], m.get(lm + 'norm.weight'), eps);
  const logits = matvec(emb, hN, V, H);
  const cap = c.final_logit_softcapping;
  if (cap) for (let i = 0; i < V; i++) logits[i] = Math.tanh(logits[i] / cap) * cap;
  return logits;
}
