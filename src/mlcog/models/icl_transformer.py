"""A small causal transformer over study examples and queries, with the ablations of Russin et al. built in.

The sequence is ``[study example 1 .. C | query 1 .. Q]``: each position is the sum of the embeddings of its
features (see :mod:`mlcog.tasks.curriculum`) plus a sinusoidal position.  Study examples attend causally to
earlier examples; every query attends to the whole study context and to itself only, so many queries share one
context in one pass exactly as if each were scored in its own sequence (all queries sit at position C).

Ablations (Russin et al. ``ablate.py``):

* ``ctx_keep (B, C)`` bool: study examples with False are removed from attention (the key column is masked for
  every row, as zeroing an example's attention-mask entries does); a removed example still attends to
  itself so that its own row stays defined, but nothing else can read it;
* ``value_noise``: N(0, sigma^2) added to the *value* vectors of the study examples as read by the queries
  only (the context itself is computed clean, as with the reference's noisy key-value cache).

With ``split_answer = n`` a study example takes two positions, its stimulus and then its answer (the last n
features), as the original's token sequences keep them apart; masks and value noise then act on both
positions of an example.

The attention block is written out (pre-norm, explicit softmax) so the attention weights can be returned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mlcog.models.metalearner import sinusoidal_table


@dataclass(frozen=True)
class ICLTransformerConfig:
    """Defaults: the reference's category model (4 layers, 8 heads, d_model 64, d_ff 128)."""

    vocab_size: int
    pad_id: int
    n_out_heads: int = 1
    n_classes: int = 2
    d_model: int = 64
    n_heads: int = 8
    n_layers: int = 4
    d_ff: int = 128
    max_ctx: int = 64
    # 0: a study example is one position (all its features summed).  n > 0: its last n features (the answer:
    # the label, or the x, y of the grid) get a position of their own after the stimulus, as in the
    # original's token sequences, so the network must bind each answer to the stimulus before it.
    split_answer: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} outside the vocabulary of {self.vocab_size}")

    def to_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    def __init__(self, c: ICLTransformerConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head = c.n_heads, c.d_model // c.n_heads
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.out = nn.Linear(c.d_model, c.d_model)

    def forward(self, h: torch.Tensor, allowed: torch.Tensor, n_ctx: int, value_noise: float = 0.0,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = h.shape
        q, k, v = self.qkv(h).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)
        weights = F.softmax(scores.masked_fill(~allowed[:, None], float("-inf")), dim=-1)
        out = weights @ v
        if value_noise > 0:
            # Drawn on the CPU so that a seeded CPU generator gives the same noise on every device.
            noise = torch.randn(v[:, :, :n_ctx].shape, generator=generator).to(v.device) * value_noise
            noisy = torch.cat([v[:, :, :n_ctx] + noise, v[:, :, n_ctx:]], dim=2)
            out = torch.cat([out[:, :, :n_ctx], weights[:, :, n_ctx:] @ noisy], dim=2)
        return self.out(out.transpose(1, 2).reshape(b, t, d)), weights


class Layer(nn.Module):
    def __init__(self, c: ICLTransformerConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.attn = Attention(c)
        self.ff = nn.Sequential(nn.Linear(c.d_model, c.d_ff), nn.GELU(), nn.Linear(c.d_ff, c.d_model))

    def forward(self, h, allowed, n_ctx, value_noise=0.0, generator=None):
        a, w = self.attn(self.ln1(h), allowed, n_ctx, value_noise, generator)
        h = h + a
        return h + self.ff(self.ln2(h)), w


class ICLTransformer(nn.Module):
    """``model(ctx (B, C, K), queries (B, Q, K)) -> logits (B, Q, n_out_heads, n_classes)``."""

    def __init__(self, config: ICLTransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        per_item = 2 if config.split_answer else 1
        self.register_buffer("pos", sinusoidal_table(per_item * config.max_ctx + 1, config.d_model),
                             persistent=False)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.n_out_heads * config.n_classes)

    @staticmethod
    def allowed_mask(batch: int, n_ctx: int, n_query: int, ctx_keep: torch.Tensor | None = None,
                     device: torch.device | None = None) -> torch.Tensor:
        """Which key each row may attend to ``(B, T, T)`` bool (see the module docstring)."""
        t = n_ctx + n_query
        allowed = torch.zeros(t, t, dtype=torch.bool, device=device)
        allowed[:n_ctx, :n_ctx] = torch.ones(n_ctx, n_ctx, dtype=torch.bool, device=device).tril()
        allowed[n_ctx:, :n_ctx] = True
        allowed[n_ctx:, n_ctx:] = torch.eye(n_query, dtype=torch.bool, device=device)
        allowed = allowed.expand(batch, t, t).clone()
        if ctx_keep is not None:
            if ctx_keep.shape != (batch, n_ctx):
                raise ValueError(f"ctx_keep must be ({batch}, {n_ctx}), got {tuple(ctx_keep.shape)}")
            allowed[:, :, :n_ctx] &= ctx_keep[:, None, :]
            allowed |= torch.eye(t, dtype=torch.bool, device=device)  # a removed example still sees itself
        return allowed

    def forward(self, ctx: torch.Tensor, queries: torch.Tensor, ctx_keep: torch.Tensor | None = None,
                value_noise: float = 0.0, generator: torch.Generator | None = None,
                return_attention: bool = False):
        b, n_ctx, _ = ctx.shape
        n_q = queries.shape[1]
        if n_ctx > self.config.max_ctx:
            raise ValueError(f"{n_ctx} study examples exceed max_ctx {self.config.max_ctx}")
        n_ans = self.config.split_answer
        if n_ans:  # [stimulus 1, answer 1, stimulus 2, answer 2, ...]: each example takes two positions
            stim, ans = self.embed(ctx[..., :-n_ans]).sum(2), self.embed(ctx[..., -n_ans:]).sum(2)
            h_ctx = torch.stack([stim, ans], 2).flatten(1, 2)
            ctx_keep = None if ctx_keep is None else ctx_keep.repeat_interleave(2, dim=1)
            n_ctx = 2 * n_ctx
        else:
            h_ctx = self.embed(ctx).sum(2)
        h = torch.cat([h_ctx, self.embed(queries).sum(2)], 1)
        positions = torch.cat([torch.arange(n_ctx), torch.full((n_q,), n_ctx)]).to(h.device)
        h = h + self.pos[positions]
        allowed = self.allowed_mask(b, n_ctx, n_q, ctx_keep, h.device)
        attention = []
        for layer in self.layers:
            h, w = layer(h, allowed, n_ctx, value_noise, generator)
            attention.append(w)
        c = self.config
        logits = self.head(self.norm(h[:, n_ctx:])).view(b, n_q, c.n_out_heads, c.n_classes)
        return (logits, attention) if return_attention else logits

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
