// Independent float64 reference forward pass of a HuggingFace
// Phi3ForCausalLM (transformers' modeling_phi3: Phi-3, Phi-3.5, Phi-4-mini),
// read from the safetensors by reference.mjs's loader; shares nothing with
// gguffs.
//
//   const logits = phi3Forward(loadHfModel(dir), tokenIds);
//
// Semantics: RMSNorm; fused qkv_proj split as [q | k | v] along its rows;
// rotate_half RoPE on the first head_dim * partial_rotary_factor dims of
// each head, with longrope: inv_freq = 1 / (factor_i * theta^(2i/rot)),
// short_factor while the sequence fits original_max_position_embeddings
// (every test prompt does), cos/sin times sqrt(1 + ln(s) / ln(orig)) with
// s = max_position_embeddings / original_max_position_embeddings; a
// sliding window when configured; fused gate_up_proj split as [gate | up],
// up * silu(gate); tied or untied head.

import { matvec, rmsnorm } from './reference.mjs';
import { ropeHalf, attend } from './refmath.mjs';

export function phi3RopeParams(c) {
  const hd = c.hidden_size / c.num_attention_heads, rot = Math.floor(hd * (c.partial_rotary_factor ?? 1));
  const theta = c.rope_theta ?? 10000, rs = c.rope_scaling;
  const inv = new Float64Array(rot / 2);
  let mscale = 1;
  const type = rs ? (rs.rope_type ?? rs.type) : null;
  if (type && type !== 'longrope' && type !== 'su') throw new Error(`reference: rope type ${type} not implemented`);
  const ext = type ? rs.short_factor : null;
  if (type) {
    const orig = c.original_max_position_embeddings, s = c.max_position_embeddings / orig;
    mscale = rs.attention_factor ?? (s <= 1 ? 1 : Math.sqrt(1 + Math.log(s) / Math.log(orig)));
  }
  for (let i = 0; i < rot / 2; i++) inv[i] = 1 / ((ext ? ext[i] : 1) * Math.pow(theta, (2 * i) / rot));
  return { hd, rot, inv, mscale };
}

const silu = x => x / (1 + Math.exp(-x));

export function phi3Forward(m, tokens) {
  const c = m.config;
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads ?? nh, I = c.intermediate_size;
  const L = c.num_hidden_layers, eps = c.rms_norm_eps;
  const { hd, rot, inv, mscale } = phi3RopeParams(c);
  const emb = m.get('model.embed_tokens.weight'), V = m.shape('model.embed_tokens.weight')[0];
  let xs = tokens.map(t => Float64Array.from(emb.subarray(t * H, (t + 1) * H)));
  const T = tokens.length, window = c.sliding_window ?? 0;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const Q = [], K = [], Vv = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm(xs[t], m.get(p + 'input_layernorm.weight'), eps);
      const qkv = matvec(m.get(p + 'self_attn.qkv_proj.weight'), h, (nh + 2 * nkv) * hd, H);
      const q = qkv.slice(0, nh * hd), k = qkv.slice(nh * hd, (nh + nkv) * hd);
      ropeHalf(q, nh, hd, rot, t, inv, mscale);
      ropeHalf(k, nkv, hd, rot, t, inv, mscale);
      Q.push(q); K.push(k); Vv.push(qkv.slice((nh + nkv) * hd));
    }
    const next = [];
    for (let t = 0; t < T; t++) {
      const att = attend(Q, K, Vv, t, { nh, nkv, hd, scale: 1 / Math.sqrt(hd), window });
      const o = matvec(m.get(p + 'self_attn.o_proj.weight'), att, H, nh * hd);
      const x = Float64Array.from(xs[t], (v, i) => v + o[i]);
      const gu = matvec(m.get(p + 'mlp.gate_up_proj.weight'), rmsnorm(x, m.get(p + 'post_attention_layernorm.weight'), eps), 2 * I, H);
      const act = new Float64Array(I);
      for (let i = 0; i < I; i++) act[i] = gu[I + i] * silu(gu[i]);
      const d = matvec(m.get(p + 'mlp.down_proj.weight'), act, H, I);
      for (let i = 0; i < H; i++) x[i] += d[i];
      next.push(x);
    }
    xs = next;
  }
  const hN = rmsnorm(xs[T - 1], m.get('model.norm.weight'), eps);
  const head = c.tie_word_embeddings || !m.has('lm_head.weight') ? emb : m.get('lm_head.weight');
  return matvec(head, hN, V, H);
}
