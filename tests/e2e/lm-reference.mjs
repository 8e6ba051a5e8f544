// Independent float64 reference forward passes of the Llama-like causal LMs
// gguffs converts besides Llama itself, from transformers' modelling code:
// Qwen2ForCausalLM (q/k/v biases), Qwen3ForCausalLM (per-head RMSNorm of q
// and k before the rotation), Qwen3MoeForCausalLM (softmax router, top-k,
// renormalised when norm_topk_prob), MistralForCausalLM (head_dim, sliding
// window) and MixtralForCausalLM (softmax router, top-k, always
// renormalised). Rotary embedding as rotate_half on the HF weights, with
// the default, linear or YaRN frequencies (_compute_yarn_parameters,
// attention factor on cos and sin). Weights come straight from the
// safetensors (reference.mjs's loader); nothing of gguffs is used.
//
//   const { logits, minMargin } = lmForward(loadHfModel(dir), tokenIds);
//
// minMargin is the smallest gap, over every token and MoE layer, between the
// last chosen and the first rejected expert's router logit (Infinity for a
// dense model): a near tie flips the choice between float64 here and
// float32 in llama.cpp.

import { ropeHalf, attend, baseInvFreq } from './refmath.mjs';
import { matvec, rmsnorm } from './reference.mjs';

const silu = x => x / (1 + Math.exp(-x));

// HF ROPE_INIT_FUNCTIONS for default, linear and yarn: inverse frequencies
// and the attention factor that scales cos and sin.
export function ropeParams(c) {
  const hd = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const base = c.rope_theta ?? 10000;
  const rs = c.rope_scaling;
  const type = rs ? (rs.rope_type ?? rs.type) : null;
  const half = hd / 2;
  const inv = baseInvFreq(base, hd);
  if (!type || type === 'default') return { inv, attn: 1 };
  if (type === 'linear') return { inv: inv.map(v => v / rs.factor), attn: 1 };
  if (type !== 'yarn') throw new Error(`reference: rope type ${type}`);
  const factor = rs.factor;
  const orig = rs.original_max_position_embeddings ?? c.max_position_embeddings;
  const mscale = s => (s <= 1 ? 1 : 0.1 * Math.log(s) + 1);
  const attn = rs.attention_factor ?? mscale(factor);
  const betaFast = rs.beta_fast ?? 32, betaSlow = rs.beta_slow ?? 1;
  const corrDim = rot => (hd * Math.log(orig / (rot * 2 * Math.PI))) / (2 * Math.log(base));
  const truncate = rs.truncate ?? true;
  let low = corrDim(betaFast), high = corrDim(betaSlow);
  if (truncate) { low = Math.floor(low); high = Math.ceil(high); }
  low = Math.max(low, 0); high = Math.min(high, hd - 1);
  if (low === high) high += 0.001;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    const extrap = 1 - ramp; // the share of the unscaled frequency
    inv[i] = (inv[i] / factor) * (1 - extrap) + inv[i] * extrap;
  }
  return { inv, attn };
}

// RMSNorm of each head of v over its hd values (Qwen3's q_norm / k_norm).
function headNorm(v, nHeads, hd, w, eps) {
  for (let h = 0; h < nHeads; h++) {
    const n = rmsnorm(v.subarray(h * hd, (h + 1) * hd), w, eps);
    v.set(n, h * hd);
  }
}

function swiglu(m, gate, up, down, x, inter) {
  const H = x.length;
  const g = matvec(m.get(gate), x, inter, H);
  const u = matvec(m.get(up), x, inter, H);
  for (let i = 0; i < inter; i++) g[i] = silu(g[i]) * u[i];
  return matvec(m.get(down), g, H, inter);
}

// The family's MLP naming and routing, from architectures[0].
function family(c) {
  const arch = c.architectures[0];
  const families = {
    Qwen2ForCausalLM: { qkNorm: false, moe: null },
    Qwen3ForCausalLM: { qkNorm: true, moe: null },
    Qwen3MoeForCausalLM: { qkNorm: true, moe: 'qwen3moe' },
    MistralForCausalLM: { qkNorm: false, moe: null },
    MixtralForCausalLM: { qkNorm: false, moe: 'mixtral' },
  };
  if (!families[arch]) throw new Error(`reference: ${arch}`);
  return families[arch];
}

// The MoE block of layer prefix p: softmax over the router logits, the top
// k experts, renormalised weights (Mixtral always, Qwen3-MoE when
// norm_topk_prob). Returns [output, margin].
function moe(m, c, kind, p, x) {
  const H = x.length;
  const E = kind === 'mixtral' ? c.num_local_experts : c.num_experts, K = c.num_experts_per_tok;
  const gate = kind === 'mixtral' ? p + 'block_sparse_moe.gate.weight' : p + 'mlp.gate.weight';
  const logits = matvec(m.get(gate), x, E, H);
  const mx = Math.max(...logits);
  const probs = Array.from(logits, v => Math.exp(v - mx));
  const sum = probs.reduce((a, b) => a + b, 0);
  for (let e = 0; e < E; e++) probs[e] /= sum;
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
  const top = order.slice(0, K);
  const margin = logits[order[K - 1]] - logits[order[K]]; // softmax keeps the order
  let w = top.map(e => probs[e]);
  if (kind === 'mixtral' || c.norm_topk_prob) {
    const s = w.reduce((a, b) => a + b, 0);
    w = w.map(v => v / s);
  }
  const y = new Float64Array(H);
  top.forEach((e, j) => {
    const ye = kind === 'mixtral'
      ? swiglu(m, `${p}block_sparse_moe.experts.${e}.w1.weight`, `${p}block_sparse_moe.experts.${e}.w3.weight`,
        `${p}block_sparse_moe.experts.${e}.w2.weight`, x, c.intermediate_size)
      : swiglu(m, `${p}mlp.experts.${e}.gate_proj.weight`, `${p}mlp.experts.${e}.up_proj.weight`,
        `${p}mlp.experts.${e}.down_proj.weight`, x, c.moe_intermediate_size);
    for (let i = 0; i < H; i++) y[i] += w[j] * ye[i];
  });
  return [y, margin];
}

export function lmForward(m, tokens) {
  const c = m.config, fam = family(c);
  const H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads ?? nh;
  const hd = c.head_dim ?? H / nh, eps = c.rms_norm_eps, L = c.num_hidden_layers;
  const window = c.use_sliding_window === false ? 0 : c.sliding_window ?? 0;
  const rope = ropeParams(c);
  const emb = m.get('model.embed_tokens.weight'), V = m.shape('model.embed_tokens.weight')[0];
  const opt = n => (m.has(n) ? m.get(n) : undefined);
  let xs = tokens.map(t => {
    if (!(t >= 0 && t < V)) throw new Error(`token ${t} out of range`);
    return Float64Array.from(emb.subarray(t * H, (t + 1) * H));
  });
  let minMargin = Infinity;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`, a = p + 'self_attn.';
    const Q = [], K = [], Vv = [];
    for (let t = 0; t < xs.length; t++) {
      const h = rmsnorm(xs[t], m.get(p + 'input_layernorm.weight'), eps);
      const q = matvec(m.get(a + 'q_proj.weight'), h, nh * hd, H, opt(a + 'q_proj.bias'));
      const k = matvec(m.get(a + 'k_proj.weight'), h, nkv * hd, H, opt(a + 'k_proj.bias'));
      const v = matvec(m.get(a + 'v_proj.weight'), h, nkv * hd, H, opt(a + 'v_proj.bias'));
      if (fam.qkNorm) {
        headNorm(q, nh, hd, m.get(a + 'q_norm.weight'), eps);
        headNorm(k, nkv, hd, m.get(a + 'k_norm.weight'), eps);
      }
      ropeHalf(q, nh, hd, hd, t, rope.inv, rope.attn);
      ropeHalf(k, nkv, hd, hd, t, rope.inv, rope.attn);
      Q.push(q); K.push(k); Vv.push(v);
    }
    const shape = { nh, nkv, hd, scale: 1 / Math.sqrt(hd), window };
    xs = xs.map((x0, t) => {
      const att = attend(Q, K, Vv, t, shape);
      const o = matvec(m.get(a + 'o_proj.weight'), att, H, nh * hd, opt(a + 'o_proj.bias'));
      const x = Float64Array.from(x0, (v, i) => v + o[i]);
      const h2 = rmsnorm(x, m.get(p + 'post_attention_layernorm.weight'), eps);
      let y;
      if (fam.moe) {
        const [out, margin] = moe(m, c, fam.moe, p, h2);
        y = out;
        minMargin = Math.min(minMargin, margin);
      } else {
        y = swiglu(m, p + 'mlp.gate_proj.weight', p + 'mlp.up_proj.weight', p + 'mlp.down_proj.weight', h2,
          c.intermediate_size);
      }
      for (let i = 0; i < H; i++) x[i] += y[i];
      return x;
    });
  }
  const hN = rmsnorm(xs[xs.length - 1], m.get('model.norm.weight'), eps);
  const head = !c.tie_word_embeddings && m.has('lm_head.weight') ? m.get('lm_head.weight') : emb;
  return { logits: matvec(head, hN, V, H), minMargin };
}
