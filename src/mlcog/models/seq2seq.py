"""The BIML encoder-decoder transformer (Lake & Baroni 2023) with batched greedy / sampled decoding.

Stock :class:`torch.nn.Transformer` (post-LayerNorm, GELU), separate input and output embeddings (no sqrt(d)
scaling), one sinusoidal positional encoding shared by encoder and decoder, dropout on embeddings, untied
output head.  With the defaults (3 + 3 layers, width 128, 8 heads, FFN 512) it has 1,393,801 parameters, the
count of the original.  Source = query followed by the study pairs (see :func:`source_tokens`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from mlcog.tasks.biml import COLOURS, WORDS

# Vocabularies exactly as the original (input: sorted symbols, then SOS/EOS/PAD; output: colours in list order).
INPUT_SYMBOLS = tuple(sorted(COLOURS + ("IO",) + WORDS)) + ("SOS", "EOS", "PAD")
OUTPUT_SYMBOLS = COLOURS + ("SOS", "EOS", "PAD")
IN_INDEX = {s: i for i, s in enumerate(INPUT_SYMBOLS)}
OUT_INDEX = {s: i for i, s in enumerate(OUTPUT_SYMBOLS)}
IN_PAD, OUT_SOS, OUT_EOS, OUT_PAD = IN_INDEX["PAD"], OUT_INDEX["SOS"], OUT_INDEX["EOS"], OUT_INDEX["PAD"]


@dataclass(frozen=True)
class Seq2SeqConfig:
    d_model: int = 128
    n_heads: int = 8
    n_encoder_layers: int = 3
    n_decoder_layers: int = 3
    d_ff: int = 512
    dropout: float = 0.1
    max_len: int = 5000

    def to_dict(self) -> dict:
        return asdict(self)


def source_tokens(query, study) -> list[str]:
    """``query SOS x1 IO y1 SOS x2 IO y2 SOS ... SOS`` (the original ``bundle_biml_episode`` layout)."""
    src = list(query) + ["SOS"]
    for x, y in study:
        src += list(x) + ["IO"] + list(y) + ["SOS"]
    return src


def encode_batch(sources: list[list[str]], targets: list[tuple[str, ...]] | None = None):
    """Index tensors: source (B, S) padded, and when ``targets`` are given decoder input and target (B, T)."""
    try:
        src_ids = [[IN_INDEX[t] for t in s] for s in sources]
    except KeyError as exc:
        raise ValueError(f"input token {exc.args[0]!r} is not in the BIML input vocabulary") from exc
    s_len = max(len(s) for s in src_ids)
    src = torch.full((len(src_ids), s_len), IN_PAD, dtype=torch.long)
    for i, s in enumerate(src_ids):
        src[i, :len(s)] = torch.tensor(s)
    if targets is None:
        return src
    try:
        tgt_ids = [[OUT_INDEX[t] for t in y] for y in targets]
    except KeyError as exc:
        raise ValueError(f"output token {exc.args[0]!r} is not in the BIML output vocabulary") from exc
    t_len = max(len(y) for y in tgt_ids) + 1
    dec_in = torch.full((len(tgt_ids), t_len), OUT_PAD, dtype=torch.long)
    dec_out = torch.full((len(tgt_ids), t_len), OUT_PAD, dtype=torch.long)
    for i, y in enumerate(tgt_ids):
        dec_in[i, :len(y) + 1] = torch.tensor([OUT_SOS] + y)
        dec_out[i, :len(y) + 1] = torch.tensor(y + [OUT_EOS])
    return src, dec_in, dec_out


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float, max_len: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[: x.shape[1]])


class Seq2SeqTransformer(nn.Module):
    def __init__(self, config: Seq2SeqConfig = Seq2SeqConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.src_embed = nn.Embedding(len(INPUT_SYMBOLS), c.d_model)
        self.tgt_embed = nn.Embedding(len(OUTPUT_SYMBOLS), c.d_model)
        self.pos = PositionalEncoding(c.d_model, c.dropout, c.max_len)
        self.transformer = nn.Transformer(c.d_model, c.n_heads, c.n_encoder_layers, c.n_decoder_layers, c.d_ff,
                                          c.dropout, activation="gelu", batch_first=True)
        # the nested-tensor fast path (eval only) is a prototype that warns on every call; same maths without it
        self.transformer.encoder.enable_nested_tensor = False
        self.transformer.encoder.use_nested_tensor = False  # the flag the forward pass reads
        self.head = nn.Linear(c.d_model, len(OUTPUT_SYMBOLS))

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = src == IN_PAD
        return self.transformer.encoder(self.pos(self.src_embed(src)), src_key_padding_mask=pad), pad

    def decode(self, memory: torch.Tensor, memory_pad: torch.Tensor, dec_in: torch.Tensor) -> torch.Tensor:
        t = dec_in.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=dec_in.device).triu(1)  # True = may not attend
        h = self.transformer.decoder(self.pos(self.tgt_embed(dec_in)), memory, tgt_mask=causal,
                                     tgt_key_padding_mask=dec_in == OUT_PAD, memory_key_padding_mask=memory_pad)
        return self.head(h)

    def forward(self, src: torch.Tensor, dec_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, |output vocabulary|)."""
        memory, pad = self.encode(src)
        return self.decode(memory, pad, dec_in)

    @torch.no_grad()
    def generate(self, src: torch.Tensor, max_steps: int = 10, sample: bool = False,
                 generator: torch.Generator | None = None) -> list[tuple[str, ...]]:
        """Greedy (argmax) or sampled (temperature 1) outputs, cut at the first EOS; SOS/PAD never emitted."""
        memory, pad = self.encode(src)
        b = src.shape[0]
        seq = torch.full((b, 1), OUT_SOS, dtype=torch.long, device=src.device)
        for _ in range(max_steps):
            logits = self.decode(memory, pad, seq)[:, -1].float()
            logits[:, [OUT_SOS, OUT_PAD]] = float("-inf")
            if sample:
                probs = torch.softmax(logits, -1).cpu()
                nxt = torch.multinomial(probs, 1, generator=generator).to(src.device)
            else:
                nxt = logits.argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
        outs = []
        for row in seq[:, 1:].tolist():
            toks = []
            for i in row:
                if i == OUT_EOS:
                    break
                toks.append(OUTPUT_SYMBOLS[i])
            outs.append(tuple(toks))
        return outs
