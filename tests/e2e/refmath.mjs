// Float64 building blocks the per-family reference forward passes share
// (gpt-oss, Gemma 3, Phi-3): transformers' rotate_half RoPE on the first
// rotDim dims of each head, and causal grouped-query attention with an
// optional sliding window and optional per-head attention sinks. Nothing
// here knows about GGUF or gguffs.

// In place: HF apply_rotary_pos_emb (rotate_half, i.e. NEOX pairs (i, i +
// rotDim/2)) on the first rotDim dims of nHeads heads of hd, cos and sin
// multiplied by mscale (yarn / longrope attention factor).
export function ropeHalf(v, nHeads, hd, rotDim, pos, inv, mscale = 1) {
  const half = rotDim / 2;
  for (let h = 0; h < nHeads; h++) {
    const o = h * hd;
    for (let i = 0; i < half; i++) {
      const ang = pos * inv[i];
      const c = Math.cos(ang) * mscale, s = Math.sin(ang) * mscale;
      const x1 = v[o + i], x2 = v[o + i + half];
      v[o + i] = x1 * c - x2 * s;
      v[o + i + half] = x2 * c + x1 * s;
    }
  }
}

// Attention output (nh * hd) of position t over positions 0..t of Q/K/V
// (arrays of Float64Array per position). window: keys u with t - u <
// window only (HF's sliding mask), 0 = all. sinks: per-head logit that
// joins the softmax and is dropped afterwards (gpt-oss), or null.
export function attend(Q, K, V, t, { nh, nkv, hd, scale, window = 0, sinks = null }) {
  const group = nh / nkv, att = new Float64Array(nh * hd);
  const u0 = window > 0 ? Math.max(0, t - window + 1) : 0;
  for (let h = 0; h < nh; h++) {
    const g = Math.floor(h / group);
    const sc = new Float64Array(t + 1 - u0);
    let mx = sinks ? sinks[h] : -Infinity;
    for (let u = u0; u <= t; u++) {
      let s = 0;
      for (let i = 0; i < hd; i++) s += Q[t][h * hd + i] * K[u][g * hd + i];
      sc[u - u0] = s * scale;
      if (sc[u - u0] > mx) mx = sc[u - u0];
    }
    let sum = sinks ? Math.exp(sinks[h] - mx) : 0;
    for (let j = 0; j < sc.length; j++) { sc[j] = Math.exp(sc[j] - mx); sum += sc[j]; }
    for (let u = u0; u <= t; u++) {
      const w = sc[u - u0] / sum;
      for (let i = 0; i < hd; i++) att[h * hd + i] += w * V[u][g * hd + i];
    }
  }
  return att;
}

// Plain rotary inverse frequencies theta^(-2i/dim), i < dim/2.
export function baseInvFreq(theta, dim) {
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / dim);
  return inv;
}
