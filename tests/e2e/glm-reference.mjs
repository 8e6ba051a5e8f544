// Independent float64 reference forward pass of a HuggingFace
// Glm4MoeLiteForCausalLM (transformers' modeling_glm4_moe_lite), read from
// the safetensors by reference.mjs's loader; shares nothing with gguffs.
//
//   const { logits, minMargin } = glmForward(loadHfModel(dir), tokenIds);

function matvec(W, x, rows, cols, rowOff = 0) {
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = 0;
    const base = (rowOff + o) * cols;
    for (let i = 0; i < cols; i++) s += W[base + i] * x[i];
    y[o] = s;
  }
  return y;
}
function rmsnorm(x, w, eps) {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]);
}
const silu = x => x / (1 + Math.exp(-x));
const sigmoid = x => 1 / (1 + Math.exp(-x));

// HF apply_rotary_pos_emb_interleave (rope_interleave = true): pairs
// (x[2i], x[2i+1]) rotate by pos * theta^(-2i/d); the output is written
// de-interleaved, which changes no dot product between q and k.
function ropeInterleaved(x, pos, theta) {
  const d = x.length, half = d / 2, out = new Float64Array(d);
  for (let i = 0; i < half; i++) {
    const ang = pos * Math.pow(theta, -(2 * i) / d), c = Math.cos(ang), s = Math.sin(ang);
    const a = x[2 * i], b = x[2 * i + 1];
    out[i] = a * c - b * s;
    out[i + half] = b * c + a * s;
  }
  return out;
}

function swiglu(m, p, x, inter) {
  const H = x.length;
  const g = matvec(m.get(p + 'gate_proj.weight'), x, inter, H);
  const u = matvec(m.get(p + 'up_proj.weight'), x, inter, H);
  for (let i = 0; i < inter; i++) g[i] = silu(g[i]) * u[i];
  return matvec(m.get(p + 'down_proj.weight'), g, H, inter);
}

// Returns {logits, minMargin}: minMargin is the smallest gap, over every
// token and MoE layer, between the last chosen and the first rejected
// expert's selection score.
export function glmForward(m, tokens) {
  const c = m.config;
  const H = c.hidden_size, nh = c.num_attention_heads, L = c.num_hidden_layers;
  const nope = c.qk_nope_head_dim, rope = c.qk_rope_head_dim, vd = c.v_head_dim;
  const kvl = c.kv_lora_rank, ql = c.q_lora_rank, eps = c.rms_norm_eps;
  const E = c.n_routed_experts, K = c.num_experts_per_tok, theta = c.rope_theta ?? 1e6;
  if ((c.n_group ?? 1) !== 1 || (c.topk_group ?? 1) !== 1) throw new Error('reference: only n_group = topk_group = 1');
  if (!c.rope_interleave) throw new Error('reference: only rope_interleave = true');
  const V = m.shape('model.embed_tokens.weight')[0];
  const emb = m.get('model.embed_tokens.weight');
  let xs = tokens.map(t => Float64Array.from(emb.subarray(t * H, (t + 1) * H)));
  const T = tokens.length, scale = 1 / Math.sqrt(nope + rope);
  let minMargin = Infinity;
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`, a = p + 'self_attn.';
    const Q = [], Kk = [], Vv = [];
    for (let t = 0; t < T; t++) {
      const h = rmsnorm(xs[t], m.get(p + 'input_layernorm.weight'), eps);
      // q_a_layernorm / kv_a_layernorm are built with the RMSNorm default eps 1e-6
      const qa = rmsnorm(matvec(m.get(a + 'q_a_proj.weight'), h, ql, H), m.get(a + 'q_a_layernorm.weight'), 1e-6);
      const q = matvec(m.get(a + 'q_b_proj.weight'), qa, nh * (nope + rope), ql);
      const ckv = matvec(m.get(a + 'kv_a_proj_with_mqa.weight'), h, kvl + rope, H);
      const latent = rmsnorm(ckv.subarray(0, kvl), m.get(a + 'kv_a_layernorm.weight'), 1e-6);
      const kRot = ropeInterleaved(ckv.subarray(kvl), t, theta);
      const kvbName = a + 'kv_b_proj.weight', kvbShape = m.shape(kvbName);
      let kvb = m.get(kvbName);
      if (kvbShape[0] === kvl && kvbShape[1] !== kvl) { // stored transposed: [kv_lora, nh*(nope+v)]
        const R = kvbShape[1], tr = new Float64Array(R * kvl);
        for (let i = 0; i < kvl; i++) for (let r = 0; r < R; r++) tr[r * kvl + i] = kvb[i * R + r];
        kvb = tr;
      }
      const kv = matvec(kvb, latent, nh * (nope + vd), kvl);
      const qs = [], ks = [], vs = [];
      for (let hh = 0; hh < nh; hh++) {
        const qh = q.subarray(hh * (nope + rope), (hh + 1) * (nope + rope));
        qs.push(Float64Array.from([...qh.subarray(0, nope), ...ropeInterleaved(qh.subarray(nope), t, theta)]));
        const kvh = kv.subarray(hh * (nope + vd), (hh + 1) * (nope + vd));
        ks.push(Float64Array.from([...kvh.subarray(0, nope), ...kRot]));
        vs.push(kvh.slice(nope));
      }
      Q.push(qs); Kk.push(ks); Vv.push(vs);
    }
    const next = [];
    for (let t = 0; t < T; t++) {
      const att = new Float64Array(nh * vd);
      for (let hh = 0; hh < nh; hh++) {
        const sc = new Float64Array(t + 1);
        let mx = -Infinity;
        for (let u = 0; u <= t; u++) {
          let s = 0;
          for (let i = 0; i < nope + rope; i++) s += Q[t][hh][i] * Kk[u][hh][i];
          sc[u] = s * scale; mx = Math.max(mx, sc[u]);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) { sc[u] = Math.exp(sc[u] - mx); sum += sc[u]; }
        for (let u = 0; u <= t; u++) for (let i = 0; i < vd; i++) att[hh * vd + i] += (sc[u] / sum) * Vv[u][hh][i];
      }
      const x = xs[t].map((v, i) => v);
      const o = matvec(m.get(a + 'o_proj.weight'), att, H, nh * vd);
      for (let i = 0; i < H; i++) x[i] += o[i];
      const h2 = rmsnorm(x, m.get(p + 'post_attention_layernorm.weight'), eps);
      let y;
      if (l < c.first_k_dense_replace) {
        y = swiglu(m, p + 'mlp.', h2, c.intermediate_size);
      } else {
        const scores = matvec(m.get(p + 'mlp.gate.weight'), h2, E, H).map(sigmoid);
        const bias = m.get(p + 'mlp.gate.e_score_correction_bias');
        const choice = Array.from(scores, (s, e) => s + bias[e]);
        const order = Array.from(choice.keys()).sort((i, j) => choice[j] - choice[i]);
        const top = order.slice(0, K);
        minMargin = Math.min(minMargin, choice[order[K - 1]] - choice[order[K]]);
        let w = top.map(e => scores[e]);
        if (c.norm_topk_prob) { const s = w.reduce((u, v) => u + v, 0) + 1e-20; w = w.map(v => v / s); }
        w = w.map(v => v * c.routed_scaling_factor);
        y = swiglu(m, p + 'mlp.shared_experts.', h2, c.moe_intermediate_size * c.n_shared_experts);
        top.forEach((e, j) => {
          const ye = swiglu(m, p + `mlp.experts.${e}.`, h2, c.moe_intermediate_size);
          for (let i = 0; i < H; i++) y[i] += w[j] * ye[i];
        });
      }
      for (let i = 0; i < H; i++) x[i] += y[i];
      next.push(x);
    }
    xs = next;
  }
  const hN = rmsnorm(xs[T - 1], m.get('model.norm.weight'), eps);
  return { logits: matvec(m.get('lm_head.weight'), hN, V, H), minMargin };
}

