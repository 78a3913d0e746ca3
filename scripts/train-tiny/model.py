"""Llama-architecture decoder in plain torch 1.13 (no scaled_dot_product_attention): RMSNorm, GQA, RoPE with the
Hugging Face rotate_half convention, SwiGLU, tied embeddings."""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    def __init__(self, vocab_size, d=64, layers=4, heads=4, kv_heads=2, inter=176, max_pos=1024,
                 rope_theta=10000.0, eps=1e-5, hd=None):
        self.vocab_size, self.d, self.layers, self.heads, self.kv_heads = vocab_size, d, layers, heads, kv_heads
        self.inter, self.max_pos, self.rope_theta, self.eps = inter, max_pos, rope_theta, eps
        self.hd = hd or d // heads  # head size may exceed d / heads (HF config head_dim)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, T):
    # inv_freq_i = theta^(-2i/hd); cos/sin laid out [T, hd] with the half repeated (HF rotate_half)
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.hd, 2).float() / cfg.hd))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, hd = cfg.d, cfg.hd
        self.input_layernorm = RMSNorm(d, cfg.eps)
        self.q_proj = nn.Linear(d, cfg.heads * hd, bias=False)
        self.k_proj = nn.Linear(d, cfg.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, cfg.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.heads * hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d, cfg.eps)
        self.gate_proj = nn.Linear(d, cfg.inter, bias=False)
        self.up_proj = nn.Linear(d, cfg.inter, bias=False)
        self.down_proj = nn.Linear(cfg.inter, d, bias=False)

    def forward(self, x, cos, sin, mask):
        cfg = self.cfg
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, cfg.heads, cfg.hd).transpose(1, 2)  # [B,H,T,hd]
        k = self.k_proj(h).view(B, T, cfg.kv_heads, cfg.hd).transpose(1, 2)  # [B,Hkv,T,hd]
        v = self.v_proj(h).view(B, T, cfg.kv_heads, cfg.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        g = cfg.heads // cfg.kv_heads
        # HF repeat_kv: query head h reads kv head h // g
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(cfg.hd) + mask
        att = att.softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, cfg.heads * cfg.hd)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        x = x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))
        return x


class TinyLlama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.norm = RMSNorm(cfg.d, cfg.eps)
        nn.init.normal_(self.embed.weight, std=0.02)
        for b in self.blocks:
            for m in [b.q_proj, b.k_proj, b.v_proj, b.gate_proj, b.up_proj]:
                nn.init.normal_(m.weight, std=0.02)
            for m in [b.o_proj, b.down_proj]:
                nn.init.normal_(m.weight, std=0.02 / math.sqrt(2 * cfg.layers))

    def hidden(self, ids):
        B, T = ids.shape
        cos, sin = rope_tables(self.cfg, T)
        mask = torch.full((T, T), float('-inf')).triu(1)
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.norm(x)

    def logits_at(self, h):
        return h @ self.embed.weight.t()  # tied lm_head

    def forward(self, ids):
        return self.logits_at(self.hidden(ids))
