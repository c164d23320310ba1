#!/usr/bin/env python3
"""Train a ~2M-parameter gpt-oss ("openai-moe") model on CPU, export it for llama.cpp.

The model computes exactly what llama.cpp's gpt-oss graph computes (llama-cpp-sys-2
0.1.161: src/models/openai-moe.cpp and the helpers it calls), in float32, so that the
exported weights packed into a GGUF give the same logits under llama.cpp.

Architecture (per layer il, x = residual stream [tokens, n_embd])
-----------------------------------------------------------------
  h   = RMSNorm(x) * attn_norm                    (eps = attention.layer_norm_rms_epsilon)
  q   = Wq h + bq ; k = Wk h + bk ; v = Wv h + bv (heads: contiguous head_dim slices)
  q,k = RoPE NEOX with YaRN: dims (i, i + hd/2) rotated by theta_i(pos), cos/sin scaled by
        mscale (see yarn_rope_tables for the float32 recipe copied from ggml)
  a   = softmax over [scale * q.k_j + mask_j for visible j ; sink_h]; the sink logit (one
        per head, NOT scaled) only enlarges the denominator; out = sum_j a_j v_j
        scale = 1/sqrt(head_dim); GQA: query head h uses kv head h // (n_head / n_head_kv)
        mask: key pos p0 visible to query pos p1 iff p0 <= p1 and, on sliding-window
        layers, p1 - p0 < sliding_window. Sliding-window layers: il % 2 == 0 (0, 2, ...)
  x   = x + Wo a + bo
  h   = RMSNorm(x) * post_attention_norm
  l   = Wr h + br (router logits, bias included); top-k experts by l;
        w = softmax over the k selected logits
  per selected expert e: g = Wg_e h + bg_e ; u = Wu_e h + bu_e
        act = min(g, 7) * sigmoid(1.702 * min(g, 7)) * (clamp(u, -7, 7) + 1)
        y_e = Wd_e act + bd_e                     (bias added BEFORE the routing weight)
  x   = x + sum_e w_e * y_e
Final: logits = Wout (RMSNorm(x) * output_norm)   (untied, no bias). No embedding scale.

Efficient training: prefix sharing
----------------------------------
A data group is one prompt prefix (P ~ 2000 tokens: system + developer messages) shared
by B (32) episodes with their own suffix (T ~ 100-400 tokens). The prefix is computed ONCE
(batch 1) per layer: its causal self-attention runs in query chunks of 512, each against
only the keys it can see. Its keys/values (RoPE'd at absolute positions 0..P-1) are then
broadcast to the B suffix rows (an expand; the one copy per row made by the concatenation
is small next to the attention itself): suffix queries attend to
[visible prefix K/V ; own suffix K/V ; sink] in one softmax, with the causal and
sliding-window masks on absolute positions (suffix = P..P+T-1); on sliding-window layers
only the last window-1 prefix keys can be visible, so only those are used. Gradients flow
through the prefix computation once per group (the expand sums the rows' gradients).
Suffixes are right-padded to the longest in the group; padding is never attended by real
tokens (causal) and never in the loss. Logits are computed only at target positions.
Attention uses PyTorch's fused CPU kernel (scaled_dot_product_attention) with the sink
carried exactly by one extra head dimension (see NanoGptOss.attend): ~2x faster than
matmul + softmax, and it does not keep the [B, H, T, P] probabilities for backward.
The MoE gathers each expert's tokens (`--moe sparse`, default); `--moe dense` computes all
4 experts with zero weight for unselected ones: measured ~1.5x slower per step.
A plain full-sequence forward (forward_plain: no prefix sharing, per-expert loop,
separately written attention) produces the reference logits, and train.py asserts that
both paths agree (max abs logit diff < 1e-4) every time it writes a reference.

Data contract (written by the Rust generator into DATA)
-------------------------------------------------------
DATA/config.json: {"vocab_size": n, "pad_id": id, "model": {GGUF keys without "gpt-oss.":
  block_count, embedding_length, attention.head_count, attention.head_count_kv,
  attention.key_length, expert_count, expert_used_count, expert_feed_forward_length,
  attention.sliding_window, rope.freq_base, rope.scaling.factor,
  rope.scaling.original_context_length, attention.layer_norm_rms_epsilon, context_length}}
DATA/train.jsonl, DATA/heldout.jsonl: one group per line:
  {"prefix": [ids], "episodes": [{"tokens": [ids], "targets": [[start, end], ...],
   "kind": "read"}, ...]}
  Full sequence = prefix + tokens. targets are half-open ranges into `tokens`; tokens[i] is
  predicted from the hidden state at the position before it (for i == 0: the prefix's last).
  train.jsonl is read in file order (already shuffled), one group per step, cycling.

Outputs (OUT)
-------------
train-log.jsonl  one JSON object per log line ({"type": "train"|"eval", ...})
checkpoint.pt    {"model", "optimizer", "step", "elapsed_s", "hparams", "vocab_size", "pad_id"}
weights.json     {"config": {model keys}, "vocab_size": n, "tensors": [{"name", "dims"
                 (ggml ne0 first), "offset" (bytes into weights.bin), "count"}]}
weights.bin      the tensors, little-endian f32, concatenated. A torch tensor of shape
                 [a, b, c] (row-major) is the ggml tensor of dims [c, b, a], same bytes.
reference.json   {"tokens": first held-out episode's prefix + tokens, "positions": 16
                 positions, "vocab_size": n}; reference.bin: f32 logits [positions, vocab]
reference-info.json  diagnostics: path agreement, smallest router top-k margin (a margin
                 near 0 means llama.cpp may pick another expert there: expect divergence)

The GGUF packer must also write gpt-oss.rope.scaling.type = "yarn" (otherwise llama.cpp
uses linear scaling without YaRN's ramp and mscale), q/k/v biases, and no
sliding_window_pattern key (default pattern 2: layers 0, 2, ... are sliding-window).
llama.cpp stores the KV cache as f16 by default (and flash attention converts Q/K/V to
f16), so its logits differ from reference.bin by ~1e-3 relative even when exact.

Usage
-----
  PY=/work/nano-venv/bin/python
  # parity check before training: random (large) weights + reference
  $PY tests/nano/train.py --data DATA --out OUT --init-only
  # training (deterministic: fixed --steps, file order, --seed)
  $PY tests/nano/train.py --data DATA --out OUT --steps 3000 --eval-every 250 --threads 2
  # (add --eval-groups 50 to keep intermediate evaluations short: ~0.8 s per group)
  # continue a stopped run / export from its checkpoint
  $PY tests/nano/train.py --data DATA --out OUT --steps 3000 --eval-every 250 --resume
  $PY tests/nano/train.py --data DATA --export OUT --reference OUT
  # synthetic data (copy and prefix-recall tasks) to test the code path and speed
  $PY tests/nano/train.py --synthetic --data /tmp/syn --out /tmp/syn-out --steps 20 \
      --eval-every 10 --synthetic-prefix 2000 --synthetic-suffix 300 --synthetic-batch 32
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MODEL_KEYS = [
    "block_count",
    "embedding_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "expert_count",
    "expert_used_count",
    "expert_feed_forward_length",
    "attention.sliding_window",
    "rope.freq_base",
    "rope.scaling.factor",
    "rope.scaling.original_context_length",
    "attention.layer_norm_rms_epsilon",
    "context_length",
]

DEFAULT_MODEL = {
    "block_count": 4,
    "embedding_length": 128,
    "attention.head_count": 4,
    "attention.head_count_kv": 2,
    "attention.key_length": 32,
    "expert_count": 4,
    "expert_used_count": 2,
    "expert_feed_forward_length": 256,
    "attention.sliding_window": 128,
    "rope.freq_base": 150000.0,
    "rope.scaling.factor": 32.0,
    "rope.scaling.original_context_length": 4096,
    "attention.layer_norm_rms_epsilon": 1e-5,
    "context_length": 131072,
}

# llama.cpp constants for gpt-oss (llama-graph.cpp LLM_FFN_SWIGLU_OAI_MOE; hparams defaults)
SWIGLU_ALPHA = 1.702
SWIGLU_LIMIT = 7.0
YARN_BETA_FAST = 32.0
YARN_BETA_SLOW = 1.0
SWA_PATTERN = 2  # load_swa_pattern(ml, 2): il % 2 < 1 -> sliding window


class HParams:
    """The model hyperparameters under their GGUF key names (without "gpt-oss.")."""

    def __init__(self, model):
        merged = dict(DEFAULT_MODEL)
        merged.update({k: v for k, v in model.items() if k in DEFAULT_MODEL})
        self.raw = merged
        self.n_layer = int(merged["block_count"])
        self.n_embd = int(merged["embedding_length"])
        self.n_head = int(merged["attention.head_count"])
        self.n_head_kv = int(merged["attention.head_count_kv"])
        self.head_dim = int(merged["attention.key_length"])
        self.n_expert = int(merged["expert_count"])
        self.n_expert_used = int(merged["expert_used_count"])
        self.n_ff = int(merged["expert_feed_forward_length"])
        self.window = int(merged["attention.sliding_window"])
        self.freq_base = float(merged["rope.freq_base"])
        self.rope_factor = float(merged["rope.scaling.factor"])
        self.n_ctx_orig = int(merged["rope.scaling.original_context_length"])
        self.eps = float(merged["attention.layer_norm_rms_epsilon"])
        assert self.n_head % self.n_head_kv == 0
        assert self.head_dim % 2 == 0

    def is_swa(self, il):
        return il % SWA_PATTERN < SWA_PATTERN - 1

    def as_json(self):
        out = {}
        for k in MODEL_KEYS:
            v = self.raw[k]
            out[k] = float(v) if isinstance(DEFAULT_MODEL[k], float) else int(v)
        return out


# ---------------------------------------------------------------------------------------
# RoPE (NEOX) with YaRN, reproducing ggml's float32 arithmetic
# ---------------------------------------------------------------------------------------

def yarn_rope_tables(hp, n_pos):
    """cos/sin [n_pos, head_dim/2] exactly as ggml-cpu's rope cache (ops.cpp rope_yarn,
    ggml_rope_cache_init; ggml.c ggml_rope_yarn_corr_dims; llama-context.cpp attn_factor).

    Every step is rounded to float32 as the C code does; transcendental functions are
    evaluated in float64 and rounded (glibc's logf/powf/cosf/sinf are correctly rounded or
    within 1 ulp)."""
    f32 = np.float32

    def logf(v):
        return f32(math.log(float(v)))

    n_dims = hp.head_dim
    base = f32(hp.freq_base)
    # llama-model.cpp: rope_freq_scale_train = 1.0f / rope.scaling.factor
    freq_scale = f32(f32(1.0) / f32(hp.rope_factor))
    # llama-context.cpp (scaling type yarn, no rope_yarn_log_mul): ext_factor = 1,
    # attn_factor = get_mscale(factor, 1) * 1/(1 + 0.1*ln(factor)) (* rope_attn_factor = 1)
    factor = f32(f32(1.0) / freq_scale)
    get_mscale = f32(f32(f32(0.1) * logf(factor)) + f32(1.0))
    cancel = f32(f32(1.0) / f32(f32(1.0) + f32(f32(0.1) * logf(factor))))
    attn_factor = f32(get_mscale * cancel)
    ext_factor = f32(1.0)
    # ops.cpp rope_yarn: mscale *= 1 + 0.1*logf(1/freq_scale) when ext_factor != 0
    mscale = f32(attn_factor * f32(f32(1.0) + f32(f32(0.1) * logf(f32(f32(1.0) / freq_scale)))))

    # ggml.c ggml_rope_yarn_corr_dims
    def corr_dim(beta):
        num = n_dims * float(logf(f32(hp.n_ctx_orig) / f32(f32(beta) * f32(2) * f32(math.pi))))
        return f32(f32(num) / f32(f32(2) * logf(base)))

    low = max(f32(0), f32(math.floor(corr_dim(YARN_BETA_FAST))))
    high = min(f32(n_dims - 1), f32(math.ceil(corr_dim(YARN_BETA_SLOW))))

    theta_scale = f32(float(base) ** (-2.0 / n_dims))  # powf(freq_base, -2.0f/n_dims)
    half = n_dims // 2
    theta = np.arange(n_pos, dtype=np.float64).astype(f32)  # theta_base = (float) pos
    cos = np.empty((n_pos, half), dtype=f32)
    sin = np.empty((n_pos, half), dtype=f32)
    for i in range(half):
        # rope_yarn_ramp(low, high, i0 = 2i): y = (i0/2 - low) / max(0.001, high - low)
        y = f32(f32(f32(i) - low) / max(f32(0.001), f32(high - low)))
        ramp = f32(f32(1) - min(f32(1), max(f32(0), y)))
        ramp_mix = f32(ramp * ext_factor)
        theta_extrap = theta
        theta_interp = (freq_scale * theta_extrap).astype(f32)
        mixed = ((theta_interp * f32(f32(1) - ramp_mix)).astype(f32)
                 + (theta_extrap * ramp_mix).astype(f32)).astype(f32)
        t64 = mixed.astype(np.float64)
        cos[:, i] = (np.cos(t64).astype(f32) * mscale).astype(f32)
        sin[:, i] = (np.sin(t64).astype(f32) * mscale).astype(f32)
        theta = (theta * theta_scale).astype(f32)  # theta *= theta_scale, in float32
    return torch.from_numpy(cos), torch.from_numpy(sin)


def apply_rope(x, cos, sin):
    """NEOX rotation of pairs (i, i + hd/2) within each head. x: [..., T, heads, hd];
    cos/sin: [T, hd/2] for the absolute positions of the T tokens."""
    half = x.shape[-1] // 2
    x0, x1 = x[..., :half], x[..., half:]
    c = cos.unsqueeze(-2)
    s = sin.unsqueeze(-2)
    return torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def swiglu_oai(gate, up):
    """ggml_swiglu_oai (ops.cpp): gate is clamped above only, up on both sides."""
    g = gate.clamp(max=SWIGLU_LIMIT)
    u = up.clamp(min=-SWIGLU_LIMIT, max=SWIGLU_LIMIT)
    return g * torch.sigmoid(SWIGLU_ALPHA * g) * (u + 1.0)


def embed(table, ids):
    """Row lookup whose backward (index_add) is deterministic on CPU; plain indexing's
    backward accumulates rows in a thread-dependent order."""
    return table.index_select(0, ids.reshape(-1)).view(*ids.shape, table.shape[1])


def causal_mask(qpos, kpos, window):
    """Additive float mask [Tq, Tk]: 0 where key position kpos is visible to query
    position qpos (kpos <= qpos and, with a window, qpos - kpos < window), -inf elsewhere
    (llama-hparams.h is_masked_swa, LLAMA_SWA_TYPE_STANDARD)."""
    d = qpos[:, None] - kpos[None, :]
    ok = d >= 0
    if window is not None:
        ok = ok & (d < window)
    mask = torch.zeros(ok.shape, dtype=torch.float32)
    mask.masked_fill_(~ok, float("-inf"))
    return mask


class Layer(nn.Module):
    def __init__(self, hp):
        super().__init__()
        e, hd, x, ff = hp.n_embd, hp.head_dim, hp.n_expert, hp.n_ff
        nq, nkv = hp.n_head * hd, hp.n_head_kv * hd
        P = lambda *shape: nn.Parameter(torch.zeros(*shape))
        self.attn_norm = P(e)
        self.wq, self.bq = P(nq, e), P(nq)
        self.wk, self.bk = P(nkv, e), P(nkv)
        self.wv, self.bv = P(nkv, e), P(nkv)
        self.wo, self.bo = P(e, nq), P(e)
        self.sinks = P(hp.n_head)
        self.post_norm = P(e)
        self.router_w, self.router_b = P(x, e), P(x)
        self.gate_w, self.gate_b = P(x, ff, e), P(x, ff)
        self.up_w, self.up_b = P(x, ff, e), P(x, ff)
        self.down_w, self.down_b = P(x, e, ff), P(x, e)


class NanoGptOss(nn.Module):
    def __init__(self, hp, vocab_size, moe="sparse"):
        super().__init__()
        self.hp = hp
        self.vocab_size = vocab_size
        self.moe_mode = moe
        self.detach_prefix = False
        self.tok_embd = nn.Parameter(torch.zeros(vocab_size, hp.n_embd))
        self.layers = nn.ModuleList([Layer(hp) for _ in range(hp.n_layer)])
        self.output_norm = nn.Parameter(torch.zeros(hp.n_embd))
        self.output = nn.Parameter(torch.zeros(vocab_size, hp.n_embd))
        self._rope_len = 0
        self._cos = self._sin = None
        self._masks = {}

    # -- initialisation ------------------------------------------------------------------
    def init_weights(self, seed, parity=False):
        """Training init (std 0.02 matrices, zero biases and sinks, unit norms, small router)
        or, with parity=True, a large random init that exercises every code path in
        llama.cpp: expert pre-activations often beyond +-7, nonzero biases, sinks of
        order 1, non-unit norm weights, router logits of order 1."""
        g = torch.Generator().manual_seed(seed)

        def normal_(p, std, mean=0.0):
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * std + mean)

        e = self.hp.n_embd
        if not parity:
            normal_(self.tok_embd, 0.02)
            normal_(self.output, 0.02)
            normal_(self.output_norm, 0.0, 1.0)
            for L in self.layers:
                for p in (L.wq, L.wk, L.wv, L.wo, L.gate_w, L.up_w, L.down_w):
                    normal_(p, 0.02)
                normal_(L.router_w, 0.01)
                for p in (L.bq, L.bk, L.bv, L.bo, L.router_b, L.gate_b, L.up_b, L.down_b, L.sinks):
                    normal_(p, 0.0)
                normal_(L.attn_norm, 0.0, 1.0)
                normal_(L.post_norm, 0.0, 1.0)
            return
        normal_(self.tok_embd, 0.5)
        normal_(self.output, 1.0 / math.sqrt(e))
        normal_(self.output_norm, 0.1, 1.0)
        for L in self.layers:
            for p in (L.wq, L.wk, L.wv):
                normal_(p, 1.0 / math.sqrt(e))
            normal_(L.wo, 1.0 / math.sqrt(L.wo.shape[1]))
            normal_(L.router_w, 1.0 / math.sqrt(e))
            normal_(L.gate_w, 4.0 / math.sqrt(e))  # |gate| > 7 for a few percent
            normal_(L.up_w, 4.0 / math.sqrt(e))    # |up| > 7 likewise
            normal_(L.down_w, 1.0 / math.sqrt(self.hp.n_ff) / 4.0)
            for p in (L.bq, L.bk, L.bv, L.bo, L.router_b, L.gate_b, L.up_b, L.down_b):
                normal_(p, 0.1)
            normal_(L.sinks, 1.0)
            normal_(L.attn_norm, 0.1, 1.0)
            normal_(L.post_norm, 0.1, 1.0)

    # -- helpers -------------------------------------------------------------------------
    def rope_tables(self, n):
        if n > self._rope_len:
            n = max(n, 4096)
            self._cos, self._sin = yarn_rope_tables(self.hp, n)
            self._rope_len = n
        return self._cos, self._sin

    def mask(self, q0, nq, k0, nk, window):
        """[nq, nk + 1] additive mask for queries at q0.. and keys at k0.., plus sink."""
        key = (q0, nq, k0, nk, window)
        m = self._masks.get(key)
        if m is None:
            if len(self._masks) > 64:
                self._masks.clear()
            m = causal_mask(torch.arange(q0, q0 + nq), torch.arange(k0, k0 + nk), window)
            m = torch.cat([m, torch.zeros(nq, 1)], dim=1)  # the sink column: always visible
            self._masks[key] = m
        return m

    def qkv(self, L, h, pos0):
        """h: [B, T, E] at positions pos0..pos0+T-1 -> q [B,T,H,hd] (RoPE'd, scaled by
        1/sqrt(hd)), k [B,T,KV,hd] (RoPE'd), v [B,T,KV,hd]."""
        hp = self.hp
        B, T, _ = h.shape
        cos, sin = self.rope_tables(pos0 + T)
        cos, sin = cos[pos0:pos0 + T], sin[pos0:pos0 + T]
        q = F.linear(h, L.wq, L.bq).view(B, T, hp.n_head, hp.head_dim)
        k = F.linear(h, L.wk, L.bk).view(B, T, hp.n_head_kv, hp.head_dim)
        v = F.linear(h, L.wv, L.bv).view(B, T, hp.n_head_kv, hp.head_dim)
        # the softmax scale is folded into q (ggml scales q.k; same value, other rounding)
        q = apply_rope(q, cos, sin) * (1.0 / math.sqrt(hp.head_dim))
        k = apply_rope(k, cos, sin)
        return q, k, v

    def attend(self, q, k, v, sinks, mask):
        """Attention with a per-head sink logit, through PyTorch's fused (flash) CPU
        kernel. q: [B, Tq, H, hd] (RoPE'd, pre-scaled); k, v: [B, KV, Tk, hd];
        mask: [Tq, Tk + 1] additive, last column (the sink) 0. Returns [B, Tq, H*hd].

        The sink is one extra key whose logit must be s_h, unscaled, for head h: one extra
        dimension holds s_h in every query of head h, 1 in the sink key and 0 in the real
        keys, so q.k is unchanged and q.sink = s_h; the sink's value is 0, so it only
        enlarges the softmax denominator (exactly ggml_soft_max_ext with sinks)."""
        B, Tq, H, hd = q.shape
        G = H // k.shape[1]
        # head h = kv*G + g uses kv head h // G (ggml mul_mat broadcast in build_attn_mha)
        k = k.repeat_interleave(G, dim=1)
        v = v.repeat_interleave(G, dim=1)
        qx = torch.cat([q.transpose(1, 2), sinks.view(1, H, 1, 1).expand(B, H, Tq, 1)], dim=-1)
        sink_key = torch.zeros(1, 1, 1, hd + 1)
        sink_key[..., hd] = 1.0
        kx = torch.cat([F.pad(k, (0, 1)), sink_key.expand(B, H, 1, hd + 1)], dim=2)
        # v padded to q's width too: the fused kernel wants equal head sizes
        vx = F.pad(v, (0, 1, 0, 1))
        o = F.scaled_dot_product_attention(qx, kx, vx, attn_mask=mask, scale=1.0)
        return o[..., :hd].transpose(1, 2).reshape(B, Tq, H * hd)

    def attend_prefix(self, q, k, v, sinks, window, chunk=512):
        """Causal self-attention of the prefix (batch 1) in query chunks, each against
        only the keys it can see (a causal chunk skips later keys, a sliding-window chunk
        also earlier ones): about half the work of the full P x P block."""
        P = q.shape[1]
        outs = []
        for s in range(0, P, chunk):
            e = min(P, s + chunk)
            k0 = 0 if window is None else max(0, s - (window - 1))
            outs.append(self.attend(q[:, s:e], k[:, :, k0:e], v[:, :, k0:e], sinks,
                                    self.mask(s, e - s, k0, e - k0, window)))
        return torch.cat(outs, dim=1)

    def moe(self, L, h):
        """h: [N, E] (post-attention-normed) -> [N, E]."""
        hp = self.hp
        N, E = h.shape
        X, Fd, K = hp.n_expert, hp.n_ff, hp.n_expert_used
        logits = F.linear(h, L.router_w, L.router_b)
        top_val, top_idx = torch.topk(logits, K, dim=-1)
        w_top = torch.softmax(top_val, dim=-1)
        if self.moe_mode == "dense":
            # All experts on all tokens, unselected ones with weight exactly 0, folded into
            # one down GEMM: sum_e w_e (Wd_e a_e + bd_e) = [w_e a_e]_e @ [Wd_e]_e + w @ bd.
            # Measured ~1.5x slower per training step than the gather path below (twice
            # the expert FLOPs and elementwise work); kept as an independent variant.
            w = torch.zeros_like(logits).scatter(1, top_idx, w_top)
            gate = F.linear(h, L.gate_w.view(X * Fd, E), L.gate_b.view(X * Fd))
            up = F.linear(h, L.up_w.view(X * Fd, E), L.up_b.view(X * Fd))
            act = swiglu_oai(gate, up).view(N, X, Fd) * w.unsqueeze(-1)
            down_all = L.down_w.permute(1, 0, 2).reshape(E, X * Fd)
            return F.linear(act.reshape(N, X * Fd), down_all) + w @ L.down_b
        out = torch.zeros_like(h)
        flat_e = top_idx.reshape(-1)
        flat_w = w_top.reshape(-1)
        token = torch.arange(N).repeat_interleave(K)
        for e in range(X):
            sel = (flat_e == e).nonzero().squeeze(1)
            if sel.numel() == 0:
                continue
            tok = token[sel]
            he = h.index_select(0, tok)
            a = swiglu_oai(F.linear(he, L.gate_w[e], L.gate_b[e]), F.linear(he, L.up_w[e], L.up_b[e]))
            y = F.linear(a, L.down_w[e], L.down_b[e]) * flat_w[sel].unsqueeze(1)
            out = out.index_add(0, tok, y)
        return out

    def ffn_block(self, L, x):
        shape = x.shape
        h = rms_norm(x, L.post_norm, self.hp.eps).reshape(-1, shape[-1])
        return x + self.moe(L, h).view(shape)

    def head(self, hidden):
        return F.linear(rms_norm(hidden, self.output_norm, self.hp.eps), self.output)

    # -- the prefix-sharing forward used for training and evaluation ---------------------
    def forward_group(self, prefix, suffix):
        """prefix: LongTensor [P]; suffix: LongTensor [B, T] (right-padded).
        Returns final hidden states (before output_norm): prefix [P, E], suffix [B, T, E]."""
        hp = self.hp
        P = prefix.shape[0]
        B, T = suffix.shape
        xp = embed(self.tok_embd, prefix).unsqueeze(0)  # [1, P, E]
        xs = embed(self.tok_embd, suffix)               # [B, T, E]
        # --detach-prefix: no gradient through the shared prefix (its keys and values are
        # constants for the suffix). About a third of a step's work is the prefix's
        # backward; the suffix still learns to use or ignore what the prefix holds.
        prefix_grad = torch.is_grad_enabled() and not self.detach_prefix
        for il, L in enumerate(self.layers):
            window = hp.window if hp.is_swa(il) else None
            # prefix: batch 1, causal over itself
            with torch.set_grad_enabled(prefix_grad):
                qp, kp, vp = self.qkv(L, rms_norm(xp, L.attn_norm, hp.eps), 0)
                kp, vp = kp.transpose(1, 2), vp.transpose(1, 2)  # [1, KV, P, hd]
                ap = self.attend_prefix(qp, kp, vp, L.sinks, window)
            # suffix rows: [visible prefix keys (one copy, expanded over rows) ; own keys];
            # on sliding-window layers only the last window-1 prefix keys can be visible
            qs, ks, vs = self.qkv(L, rms_norm(xs, L.attn_norm, hp.eps), P)
            p0 = 0 if window is None else max(0, P - (window - 1))
            k = torch.cat([kp[:, :, p0:].expand(B, -1, -1, -1), ks.transpose(1, 2)], dim=2)
            v = torch.cat([vp[:, :, p0:].expand(B, -1, -1, -1), vs.transpose(1, 2)], dim=2)
            as_ = self.attend(qs, k, v, L.sinks, self.mask(P, T, p0, P + T - p0, window))
            with torch.set_grad_enabled(prefix_grad):
                xp = self.ffn_block(L, xp + F.linear(ap, L.wo, L.bo))
            xs = self.ffn_block(L, xs + F.linear(as_, L.wo, L.bo))
        return xp[0], xs

    # -- the plain full-sequence forward (reference; written independently) --------------
    def forward_plain(self, tokens):
        """tokens: LongTensor [S] -> final hidden states [S, E] (before output_norm), plus
        the gaps between the k-th and (k+1)-th router logit [n_layer, S] (a near-tie may
        make llama.cpp, with its own rounding, pick another expert there)."""
        hp = self.hp
        S = tokens.shape[0]
        H, KV, hd = hp.n_head, hp.n_head_kv, hp.head_dim
        G = H // KV
        cos, sin = self.rope_tables(S)
        cos, sin = cos[:S], sin[:S]
        pos = torch.arange(S)
        x = self.tok_embd[tokens]
        margins = []
        for il, L in enumerate(self.layers):
            h = rms_norm(x, L.attn_norm, hp.eps)
            q = apply_rope((h @ L.wq.T + L.bq).view(S, H, hd), cos, sin)
            k = apply_rope((h @ L.wk.T + L.bk).view(S, KV, hd), cos, sin)
            v = (h @ L.wv.T + L.bv).view(S, KV, hd)
            heads = []
            for hh in range(H):
                kv = hh // G
                s = (q[:, hh] @ k[:, kv].T) * (1.0 / math.sqrt(hd))  # [S, S]
                d = pos[:, None] - pos[None, :]
                visible = d >= 0
                if hp.is_swa(il):
                    visible &= d < hp.window
                s = s.masked_fill(~visible, float("-inf"))
                s = torch.cat([s, L.sinks[hh].expand(S, 1)], dim=1)
                prob = torch.softmax(s, dim=1)[:, :S]
                heads.append(prob @ v[:, kv])
            x = x + torch.cat(heads, dim=1) @ L.wo.T + L.bo
            h = rms_norm(x, L.post_norm, hp.eps)
            logits = h @ L.router_w.T + L.router_b
            srt = torch.sort(logits.detach(), dim=1, descending=True).values
            if hp.n_expert_used < hp.n_expert:
                margins.append(srt[:, hp.n_expert_used - 1] - srt[:, hp.n_expert_used])
            top_val, top_idx = torch.topk(logits, hp.n_expert_used, dim=1)
            wts = torch.softmax(top_val, dim=1)
            y = torch.zeros_like(x)
            for slot in range(hp.n_expert_used):
                for e in range(hp.n_expert):
                    rows = (top_idx[:, slot] == e).nonzero().squeeze(1)
                    if rows.numel() == 0:
                        continue
                    he = h[rows]
                    gate = he @ L.gate_w[e].T + L.gate_b[e]
                    up = he @ L.up_w[e].T + L.up_b[e]
                    out = swiglu_oai(gate, up) @ L.down_w[e].T + L.down_b[e]
                    y = y.index_add(0, rows, out * wts[rows, slot:slot + 1])
            x = x + y
        margins = torch.stack(margins) if margins else torch.full((1, S), float("inf"))
        return x, margins


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------

class GroupFile:
    """A JSONL file of groups, indexed by line offsets and parsed on demand (a train file
    of thousands of 10k-token groups would take gigabytes as Python lists)."""

    def __init__(self, path):
        self.path = path
        self.offsets = []
        with open(path, "rb") as f:
            off = 0
            for line in f:
                if line.strip():
                    self.offsets.append(off)
                off += len(line)
        self._f = open(path, "rb")

    def __len__(self):
        return len(self.offsets)

    def get(self, i):
        self._f.seek(self.offsets[i])
        return json.loads(self._f.readline())


class Batch:
    """One group as tensors: prefix [P], suffix [B, T] padded with pad_id, and the target
    positions flattened over the batch: row b, index j into `tokens` (predicted from the
    hidden state of sequence position P + j - 1), token id."""

    def __init__(self, group, pad_id):
        self.prefix = torch.tensor(group["prefix"], dtype=torch.long)
        assert len(self.prefix) > 0, "a group needs a non-empty prefix"
        eps = group["episodes"]
        self.kinds = [ep.get("kind", "") for ep in eps]
        T = max(1, max(len(ep["tokens"]) for ep in eps))
        suffix = torch.full((len(eps), T), pad_id, dtype=torch.long)
        rows, cols, turns = [], [], []
        for b, ep in enumerate(eps):
            toks = ep["tokens"]
            suffix[b, :len(toks)] = torch.tensor(toks, dtype=torch.long)
            ep_turns = []
            for start, end in ep["targets"]:
                assert 0 <= start <= end <= len(toks), (start, end, len(toks))
                ep_turns.append((len(rows), len(rows) + end - start))
                rows.extend([b] * (end - start))
                cols.extend(range(start, end))
            turns.append(ep_turns)
        self.suffix = suffix
        self.rows = torch.tensor(rows, dtype=torch.long)
        self.cols = torch.tensor(cols, dtype=torch.long)
        self.targets = suffix[self.rows, self.cols] if rows else torch.zeros(0, dtype=torch.long)
        self.turns = turns  # per episode: [(first, end) slices into the flattened targets]
        self.n_tokens = len(self.prefix) + sum(len(ep["tokens"]) for ep in eps)


def target_logits(model, batch):
    """Logits at the target positions only."""
    hp_prefix, hs = model.forward_group(batch.prefix, batch.suffix)
    B = hs.shape[0]
    # extended[:, j] = hidden state that predicts tokens[j]: prefix's last for j == 0
    ext = torch.cat([hp_prefix[-1:].expand(B, 1, -1), hs], dim=1)
    return model.head(ext[batch.rows, batch.cols])


# ---------------------------------------------------------------------------------------
# Synthetic data (copy and prefix-recall tasks), same contract as the Rust generator
# ---------------------------------------------------------------------------------------

def write_synthetic(data_dir, seed, n_train, n_heldout, batch, prefix_len, suffix_len, vocab):
    rng = np.random.default_rng(seed + 12345)
    PAD, SEP, QUERY, END, START = 0, 1, 2, 3, 4
    lo = 8  # first content id

    def content(n):
        return rng.integers(lo, vocab, size=n).tolist()

    def group(n_eps):
        prefix = content(prefix_len)
        # key/value facts spread over the prefix: QUERY key value
        keys = rng.choice(np.arange(lo, vocab), size=16, replace=False).tolist()
        vals = content(16)
        for i, (k, v) in enumerate(zip(keys, vals)):
            at = 4 + i * max(1, (prefix_len - 8) // 16)
            prefix[at:at + 3] = [QUERY, k, v]
        episodes = []
        for _ in range(n_eps):
            kind = "copy" if rng.random() < 0.5 else "recall"
            length = int(suffix_len - rng.integers(0, max(1, suffix_len // 6)))
            toks, targets = [], []
            for _turn in range(int(rng.integers(1, 3))):
                toks += content(int(rng.integers(5, 40)))  # noise, not predicted
                if kind == "copy":
                    seg = content(int(rng.integers(6, 16)))
                    toks += [START] + seg + [SEP]
                    targets.append([len(toks), len(toks) + len(seg) + 1])
                    toks += seg + [END]
                else:
                    i = int(rng.integers(0, len(keys)))
                    toks += [START, QUERY, keys[i], SEP]
                    targets.append([len(toks), len(toks) + 2])
                    toks += [vals[i], END]
            toks += content(max(0, length - len(toks)))
            episodes.append({"tokens": toks, "targets": targets, "kind": kind})
        return {"prefix": prefix, "episodes": episodes}

    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "config.json"), "w") as f:
        json.dump({"vocab_size": vocab, "pad_id": PAD, "model": DEFAULT_MODEL}, f, indent=1)
    for name, n, n_eps in (("train.jsonl", n_train, batch), ("heldout.jsonl", n_heldout, 8)):
        with open(os.path.join(data_dir, name), "w") as f:
            for _ in range(n):
                f.write(json.dumps(group(n_eps)) + "\n")


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model, heldout, pad_id, max_groups=None, short_prefix=None):
    """Teacher-forced greedy exact match on held-out groups; with `short_prefix`, on the
    prefix's last tokens only (what the curriculum trains on)."""
    model.eval()
    stats = {}

    def bucket(kind):
        return stats.setdefault(kind, {"episodes": 0, "episodes_exact": 0, "turns": 0,
                                       "turns_exact": 0, "tokens": 0, "tokens_correct": 0,
                                       "loss_sum": 0.0})

    n = len(heldout) if max_groups is None else min(max_groups, len(heldout))
    for gi in range(n):
        group = heldout.get(gi)
        if short_prefix:
            group = dict(group, prefix=group["prefix"][-short_prefix:])
        batch = Batch(group, pad_id)
        if len(batch.targets) == 0:
            continue
        logits = target_logits(model, batch)
        loss = F.cross_entropy(logits, batch.targets, reduction="none")
        correct = logits.argmax(-1) == batch.targets
        for b, ep_turns in enumerate(batch.turns):
            for kind in ("all", batch.kinds[b]):
                s = bucket(kind)
                s["episodes"] += 1
                ep_ok = True
                for first, end in ep_turns:
                    ok = bool(correct[first:end].all())
                    ep_ok &= ok
                    s["turns"] += 1
                    s["turns_exact"] += int(ok)
                    s["tokens"] += end - first
                    s["tokens_correct"] += int(correct[first:end].sum())
                    s["loss_sum"] += float(loss[first:end].sum())
                s["episodes_exact"] += int(ep_ok)
    out = {}
    for kind, s in stats.items():
        out[kind] = {
            "episodes": s["episodes"],
            "episode_exact": s["episodes_exact"] / max(1, s["episodes"]),
            "turns": s["turns"],
            "turn_exact": s["turns_exact"] / max(1, s["turns"]),
            "token_acc": s["tokens_correct"] / max(1, s["tokens"]),
            "loss": s["loss_sum"] / max(1, s["tokens"]),
        }
    model.train()
    return out


# ---------------------------------------------------------------------------------------
# Export and reference
# ---------------------------------------------------------------------------------------

def gguf_tensors(model):
    """(name, tensor, ggml dims) in llama.cpp's naming (openai-moe.cpp load_arch_tensors).
    ggml dims are the torch shape reversed (ne0 = fastest-varying = torch's last dim)."""
    hp = model.hp
    e, hd, x, ff = hp.n_embd, hp.head_dim, hp.n_expert, hp.n_ff
    nq, nkv, V = hp.n_head * hd, hp.n_head_kv * hd, model.vocab_size
    out = [
        ("token_embd.weight", model.tok_embd, [e, V]),
        ("output_norm.weight", model.output_norm, [e]),
        ("output.weight", model.output, [e, V]),
    ]
    for i, L in enumerate(model.layers):
        b = "blk.%d." % i
        out += [
            (b + "attn_norm.weight", L.attn_norm, [e]),
            (b + "post_attention_norm.weight", L.post_norm, [e]),
            (b + "attn_q.weight", L.wq, [e, nq]),
            (b + "attn_q.bias", L.bq, [nq]),
            (b + "attn_k.weight", L.wk, [e, nkv]),
            (b + "attn_k.bias", L.bk, [nkv]),
            (b + "attn_v.weight", L.wv, [e, nkv]),
            (b + "attn_v.bias", L.bv, [nkv]),
            (b + "attn_output.weight", L.wo, [nq, e]),
            (b + "attn_output.bias", L.bo, [e]),
            (b + "attn_sinks.weight", L.sinks, [hp.n_head]),
            (b + "ffn_gate_inp.weight", L.router_w, [e, x]),
            (b + "ffn_gate_inp.bias", L.router_b, [x]),
            (b + "ffn_gate_exps.weight", L.gate_w, [e, ff, x]),
            (b + "ffn_gate_exps.bias", L.gate_b, [ff, x]),
            (b + "ffn_up_exps.weight", L.up_w, [e, ff, x]),
            (b + "ffn_up_exps.bias", L.up_b, [ff, x]),
            (b + "ffn_down_exps.weight", L.down_w, [ff, e, x]),
            (b + "ffn_down_exps.bias", L.down_b, [e, x]),
        ]
    for name, t, dims in out:
        assert list(reversed(t.shape)) == dims, (name, tuple(t.shape), dims)
    return out


def export_weights(model, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    offset = 0
    tmp_bin = os.path.join(out_dir, "weights.bin.tmp")
    with open(tmp_bin, "wb") as f:
        for name, t, dims in gguf_tensors(model):
            arr = t.detach().to(torch.float32).contiguous().numpy().astype("<f4", copy=False)
            f.write(arr.tobytes(order="C"))
            entries.append({"name": name, "dims": dims, "offset": offset, "count": int(arr.size)})
            offset += arr.nbytes
    meta = {"config": model.hp.as_json(), "vocab_size": model.vocab_size, "tensors": entries}
    write_json_atomic(os.path.join(out_dir, "weights.json"), meta)
    os.replace(tmp_bin, os.path.join(out_dir, "weights.bin"))
    return offset


def reference_positions(P, S, n=16):
    """n distinct positions: the first, around the window edge (127/128/129), the prefix's
    last and the first suffix position, the last, the rest spread evenly."""
    pos = {p for p in (0, 127, 128, 129, P - 1, P, S - 1) if 0 <= p < S}
    for count in (n - len(pos) + 2, 4 * n, S):
        for p in np.linspace(0, S - 1, max(2, count)).round().astype(int).tolist():
            if len(pos) >= min(n, S):
                return sorted(pos)
            pos.add(p)
    return sorted(pos)


@torch.no_grad()
def write_reference(model, heldout, pad_id, out_dir, tol=1e-4):
    """Plain full-sequence logits of the first held-out episode; also checks that the
    prefix-sharing path (batch of that group's first episodes, padded) gives the same."""
    model.eval()
    group = heldout.get(0)
    prefix = group["prefix"]
    ep0 = group["episodes"][0]
    seq = prefix + ep0["tokens"]
    P, S = len(prefix), len(seq)
    tokens = torch.tensor(seq, dtype=torch.long)
    hidden, margin = model.forward_plain(tokens)
    positions = reference_positions(P, S)
    ref_logits = model.head(hidden[positions])

    # prefix-sharing path on up to 4 episodes of the same group (broadcast + padding)
    sub = dict(group)
    sub["episodes"] = group["episodes"][:4]
    batch = Batch(sub, pad_id)
    hp_prefix, hs = model.forward_group(batch.prefix, batch.suffix)
    shared_hidden = torch.cat([hp_prefix, hs[0, :len(ep0["tokens"])]], dim=0)  # [S, E]
    hidden_diff = (shared_hidden - hidden).abs().max().item()
    shared_logits = model.head(shared_hidden[positions])
    logit_diff = (shared_logits - ref_logits).abs().max().item()
    # all suffix positions too (chunked: the vocabulary may be large)
    suffix_pos = list(range(P - 1, S))
    for i in range(0, len(suffix_pos), 256):
        chunk = suffix_pos[i:i + 256]
        d = (model.head(shared_hidden[chunk]) - model.head(hidden[chunk])).abs().max().item()
        logit_diff = max(logit_diff, d)
    model.train()

    os.makedirs(out_dir, exist_ok=True)
    arr = ref_logits.to(torch.float32).contiguous().numpy().astype("<f4", copy=False)
    with open(os.path.join(out_dir, "reference.bin.tmp"), "wb") as f:
        f.write(arr.tobytes(order="C"))
    os.replace(os.path.join(out_dir, "reference.bin.tmp"), os.path.join(out_dir, "reference.bin"))
    write_json_atomic(os.path.join(out_dir, "reference.json"),
                      {"tokens": seq, "positions": positions, "vocab_size": model.vocab_size})
    info = {
        "prefix_len": P,
        "seq_len": S,
        "max_abs_logit_diff_shared_vs_plain": logit_diff,
        "max_abs_hidden_diff_shared_vs_plain": hidden_diff,
        "min_router_topk_margin": float(margin.min()),
        # routing decisions (token x layer) this close to a tie: rounding differences of
        # about this size (f16 KV cache: ~1e-3) can flip them in llama.cpp
        "router_near_ties": {t: int((margin < float(t)).sum()) for t in ("1e-5", "1e-4", "1e-3", "1e-2")},
        "router_near_tie_positions_1e-3": sorted({int(i) for i in (margin < 1e-3).nonzero()[:, 1]}),
        "logit_abs_max": float(ref_logits.abs().max()),
        "logit_std": float(ref_logits.std()),
    }
    write_json_atomic(os.path.join(out_dir, "reference-info.json"), info)
    assert logit_diff < tol, "prefix-sharing and plain forwards disagree: %g" % logit_diff
    return info


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------

def write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def lr_at(step, total, base, warmup):
    """Linear warmup over `warmup` steps, then cosine from base to 10% of base at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    frac = min(1.0, frac)
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * frac)))


# norms, biases (the expert biases are 2-D: select by name, not by shape) and sinks
NO_DECAY = {"attn_norm", "post_norm", "output_norm", "sinks",
            "bq", "bk", "bv", "bo", "router_b", "gate_b", "up_b", "down_b"}


def make_optimizer(model, lr, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.split(".")[-1] in NO_DECAY else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.95), eps=1e-8)


def load_data_config(data_dir):
    with open(os.path.join(data_dir, "config.json")) as f:
        cfg = json.load(f)
    return HParams(cfg.get("model", {})), int(cfg["vocab_size"]), int(cfg.get("pad_id", 0))


def log_line(out_dir, obj):
    with open(os.path.join(out_dir, "train-log.jsonl"), "a") as f:
        f.write(json.dumps(obj) + "\n")


def save_checkpoint(path, model, opt, step, elapsed, pad_id):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict() if opt else None,
                "step": step, "elapsed_s": elapsed, "hparams": model.hp.as_json(),
                "vocab_size": model.vocab_size, "pad_id": pad_id}, tmp)
    os.replace(tmp, path)


def load_model_from_checkpoint(path, moe):
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = NanoGptOss(HParams(ck["hparams"]), ck["vocab_size"], moe=moe)
    model.load_state_dict(ck["model"])
    return model, ck


def train(args):
    hp, vocab, pad_id = load_data_config(args.data)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    model = NanoGptOss(hp, vocab, moe=args.moe)
    model.detach_prefix = args.detach_prefix
    model.init_weights(args.seed)
    opt = make_optimizer(model, args.lr, args.weight_decay)
    ck_path = os.path.join(args.out, "checkpoint.pt")
    start, elapsed0 = 0, 0.0
    if args.resume and os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        if ck.get("optimizer"):
            opt.load_state_dict(ck["optimizer"])
        start, elapsed0 = int(ck["step"]), float(ck["elapsed_s"])
        print("resumed at step %d (%.1f min)" % (start, elapsed0 / 60), flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    train_file = GroupFile(os.path.join(args.data, "train.jsonl"))
    heldout = GroupFile(os.path.join(args.data, "heldout.jsonl"))
    print("params %d (%.2fM), vocab %d, train groups %d, held-out groups %d, moe %s, threads %d"
          % (n_params, n_params / 1e6, vocab, len(train_file), len(heldout), args.moe,
             torch.get_num_threads()), flush=True)
    log_line(args.out, {"type": "start", "step": start, "params": n_params, "args": vars(args),
                        "config": hp.as_json(), "vocab_size": vocab})

    t0 = time.time()
    last_eval = None
    window_loss, window_tok, window_time, window_n = 0.0, 0, 0.0, 0
    step = start
    while step < args.steps:
        ts = time.time()
        group = train_file.get(step % len(train_file))
        if step < args.short_prefix_until:
            # Curriculum: only the prefix's last tokens, so that copying (induction) forms
            # without 3,000 keys diluting every attention row; later steps use it whole.
            group = dict(group, prefix=group["prefix"][-args.short_prefix:])
        batch = Batch(group, pad_id)
        lr = lr_at(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        if len(batch.targets):
            logits = target_logits(model, batch)
            loss = F.cross_entropy(logits, batch.targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip))
            opt.step()
            lv = loss.item()
        else:
            lv, gnorm = float("nan"), 0.0
        step += 1
        dt = time.time() - ts
        window_loss += lv
        window_tok += batch.n_tokens
        window_time += dt
        window_n += 1
        minutes = (elapsed0 + time.time() - t0) / 60
        if step % args.log_every == 0 or step == args.steps:
            rec = {"type": "train", "step": step, "minutes": round(minutes, 3),
                   "loss": window_loss / window_n, "lr": lr, "grad_norm": gnorm,
                   "s_per_step": window_time / window_n,
                   "tokens_per_s": window_tok / max(1e-9, window_time)}
            log_line(args.out, rec)
            print("step %d  %.1f min  loss %.4f  %.2f s/step  %.0f tok/s  heldout episode exact %s"
                  % (step, minutes, rec["loss"], rec["s_per_step"], rec["tokens_per_s"],
                     "-" if last_eval is None else "%.3f" % last_eval), flush=True)
            window_loss, window_tok, window_time, window_n = 0.0, 0, 0.0, 0
        if step % args.eval_every == 0 or step == args.steps:
            te = time.time()
            # the final evaluation always covers the whole held-out set
            ev = evaluate(model, heldout, pad_id, None if step == args.steps else args.eval_groups)
            last_eval = ev.get("all", {}).get("episode_exact", 0.0)
            minutes = (elapsed0 + time.time() - t0) / 60
            log_line(args.out, {"type": "eval", "step": step, "minutes": round(minutes, 3),
                                "eval_s": time.time() - te, "heldout": ev})
            print("eval step %d  %.1f min  heldout episode exact %.3f  turn exact %.3f  "
                  "token acc %.3f  loss %.4f  %s"
                  % (step, minutes, last_eval, ev.get("all", {}).get("turn_exact", 0.0),
                     ev.get("all", {}).get("token_acc", 0.0), ev.get("all", {}).get("loss", 0.0),
                     " ".join("%s=%.3f" % (k, v["episode_exact"]) for k, v in ev.items()
                              if k != "all")), flush=True)
            if step < args.short_prefix_until:
                short = evaluate(model, heldout, pad_id, args.eval_groups, args.short_prefix)
                log_line(args.out, {"type": "eval_short_prefix", "step": step, "heldout": short})
                print("  with the short prefix: episode exact %.3f  token acc %.3f  %s"
                      % (short["all"]["episode_exact"], short["all"]["token_acc"],
                         " ".join("%s=%.3f" % (k, v["episode_exact"]) for k, v in short.items()
                                  if k != "all")), flush=True)
            save_checkpoint(ck_path, model, opt, step, elapsed0 + time.time() - t0, pad_id)
            if args.stop_after and step >= args.stop_after:
                print("stopped after step %d (checkpoint saved; continue with --resume)" % step,
                      flush=True)
                return
    # final artefacts
    export_weights(model, args.out)
    info = write_reference(model, heldout, pad_id, args.out)
    print("exported weights and reference to %s (shared vs plain max logit diff %.2e)"
          % (args.out, info["max_abs_logit_diff_shared_vs_plain"]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="data directory (config.json, train.jsonl, heldout.jsonl)")
    ap.add_argument("--out", help="output directory (log, checkpoint, weights, reference)")
    ap.add_argument("--steps", type=int, default=1000, help="total optimizer steps (fixed)")
    ap.add_argument("--batch-from-data", action="store_true",
                    help="one group = one batch (the only mode; accepted for clarity)")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-groups", type=int, default=None,
                    help="intermediate evaluations use the first N held-out groups only "
                         "(~0.8 s per 32-episode group at P=2000); the final one uses all")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--stop-after", type=int, default=None,
                    help="stop once the checkpoint of this step (an --eval-every multiple) is "
                         "saved; a later --resume (possibly with other --steps) continues")
    ap.add_argument("--short-prefix", type=int, default=96,
                    help="prefix tokens kept while step < --short-prefix-until")
    ap.add_argument("--short-prefix-until", type=int, default=0,
                    help="train on the last --short-prefix prefix tokens only until this step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--moe", choices=["dense", "sparse"], default="sparse")
    ap.add_argument("--detach-prefix", action="store_true",
                    help="no gradient through the shared prefix (faster steps)")
    ap.add_argument("--init-only", action="store_true",
                    help="export large random weights + reference without training (parity)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument("--export", metavar="DIR",
                    help="write DIR/weights.{json,bin} from DIR/checkpoint.pt (or --out's)")
    ap.add_argument("--reference", metavar="DIR",
                    help="write DIR/reference.{json,bin} from the checkpoint (needs --data)")
    ap.add_argument("--synthetic", action="store_true",
                    help="generate synthetic data into --data first")
    ap.add_argument("--synthetic-train-groups", type=int, default=64)
    ap.add_argument("--synthetic-heldout-groups", type=int, default=4)
    ap.add_argument("--synthetic-batch", type=int, default=32)
    ap.add_argument("--synthetic-prefix", type=int, default=2000)
    ap.add_argument("--synthetic-suffix", type=int, default=300)
    ap.add_argument("--synthetic-vocab", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.synthetic:
        if not args.data:
            ap.error("--synthetic needs --data")
        write_synthetic(args.data, args.seed, args.synthetic_train_groups,
                        args.synthetic_heldout_groups, args.synthetic_batch,
                        args.synthetic_prefix, args.synthetic_suffix, args.synthetic_vocab)

    if args.export or args.reference:
        src = None
        for d in (args.export, args.reference, args.out):
            if d and os.path.exists(os.path.join(d, "checkpoint.pt")):
                src = os.path.join(d, "checkpoint.pt")
                break
        if src is None:
            ap.error("no checkpoint.pt in --export/--reference/--out directories")
        model, ck = load_model_from_checkpoint(src, args.moe)
        if args.export:
            export_weights(model, args.export)
            print("weights -> %s" % args.export)
        if args.reference:
            if not args.data:
                ap.error("--reference needs --data (for heldout.jsonl)")
            info = write_reference(model, GroupFile(os.path.join(args.data, "heldout.jsonl")),
                                   ck.get("pad_id", 0), args.reference)
            print("reference -> %s %s" % (args.reference, json.dumps(info)))
        return

    if not args.data or not args.out:
        ap.error("--data and --out are required")

    if args.init_only:
        hp, vocab, pad_id = load_data_config(args.data)
        model = NanoGptOss(hp, vocab, moe=args.moe)
        model.init_weights(args.seed, parity=True)
        os.makedirs(args.out, exist_ok=True)
        save_checkpoint(os.path.join(args.out, "checkpoint.pt"), model, None, 0, 0.0, pad_id)
        export_weights(model, args.out)
        info = write_reference(model, GroupFile(os.path.join(args.data, "heldout.jsonl")),
                               pad_id, args.out)
        print("init-only: weights and reference -> %s %s" % (args.out, json.dumps(info)))
        return

    train(args)


if __name__ == "__main__":
    sys.exit(main())
