"""The unsharded modules the tensor-parallel layers are cut from and checked against.

Shapes follow HF decoder configs: hidden size h, FFN size, attention heads and KV heads (grouped-
query attention when KV heads < heads; Ainslie et al. 2023, arXiv 2305.13245).
"""

import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, hidden: int, ffn: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, ffn)   # [ffn, hidden]
        self.fc2 = nn.Linear(ffn, hidden)   # [hidden, ffn]

    def forward(self, x):                   # x: [batch, seq, hidden]
        return self.fc2(F.gelu(self.fc1(x)))


class Attention(nn.Module):
    """Causal multi-head attention with `kv_heads` shared KV heads (GQA; = heads for MHA)."""

    def __init__(self, hidden: int, heads: int, kv_heads: int):
        super().__init__()
        if hidden % heads or heads % kv_heads:
            raise ValueError(f"need hidden % heads == 0 and heads % kv_heads == 0, "
                             f"got hidden={hidden}, heads={heads}, kv_heads={kv_heads}")
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.q = nn.Linear(hidden, heads * self.head_dim, bias=False)
        self.k = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(heads * self.head_dim, hidden, bias=False)

    def forward(self, x):
        return self.o(attend(self.q(x), self.k(x), self.v(x), self.heads, self.kv_heads, self.head_dim))


class TransformerLayer(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then + MLP(norm(x))."""

    def __init__(self, hidden: int, ffn: int, heads: int, kv_heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attention = Attention(hidden, heads, kv_heads)
        self.mlp = MLP(hidden, ffn)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def attend(q, k, v, heads: int, kv_heads: int, head_dim: int):
    """q: [b, s, heads·d], k and v: [b, s, kv_heads·d] -> [b, s, heads·d], causal."""
    b, s, _ = q.shape
    q = q.view(b, s, heads, head_dim).transpose(1, 2)                  # [b, heads, s, d]
    k = k.view(b, s, kv_heads, head_dim).transpose(1, 2)               # [b, kv_heads, s, d]
    v = v.view(b, s, kv_heads, head_dim).transpose(1, 2)
    k = k.repeat_interleave(heads // kv_heads, dim=1)                  # [b, heads, s, d]
    v = v.repeat_interleave(heads // kv_heads, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # [b, heads, s, d]
    return out.transpose(1, 2).reshape(b, s, heads * head_dim)
