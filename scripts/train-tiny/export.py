"""Export a trained checkpoint as a Hugging Face Llama folder (config.json, model.safetensors written by hand,
tokenizer.json WordLevel, tokenizer_config.json), then check that a numpy forward over the written safetensors
reproduces the PyTorch logits.

Usage: python3 scripts/train-tiny/export.py --ckpt /tmp/kvopt-tiny-run/best.pt --out models/tiny
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lang  # noqa: E402
from model import Config, TinyLlama  # noqa: E402


def hf_tensors(model):
    """HF LlamaForCausalLM names -> float32 numpy arrays ([out, in] like nn.Linear). Embeddings are tied."""
    t = {'model.embed_tokens.weight': model.embed.weight}
    for i, b in enumerate(model.blocks):
        p = f'model.layers.{i}.'
        t[p + 'input_layernorm.weight'] = b.input_layernorm.weight
        t[p + 'self_attn.q_proj.weight'] = b.q_proj.weight
        t[p + 'self_attn.k_proj.weight'] = b.k_proj.weight
        t[p + 'self_attn.v_proj.weight'] = b.v_proj.weight
        t[p + 'self_attn.o_proj.weight'] = b.o_proj.weight
        t[p + 'post_attention_layernorm.weight'] = b.post_attention_layernorm.weight
        t[p + 'mlp.gate_proj.weight'] = b.gate_proj.weight
        t[p + 'mlp.up_proj.weight'] = b.up_proj.weight
        t[p + 'mlp.down_proj.weight'] = b.down_proj.weight
    t['model.norm.weight'] = model.norm.weight
    return {k: v.detach().numpy().astype('<f4') for k, v in t.items()}


def write_safetensors(path, tensors, metadata):
    header, off = {}, 0
    for name, arr in tensors.items():
        n = arr.size * 4
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape), 'data_offsets': [off, off + n]}
        off += n
    header['__metadata__'] = metadata
    hb = json.dumps(header, separators=(',', ':')).encode()
    hb += b' ' * ((8 - len(hb) % 8) % 8)  # pad so the data starts 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hb)))
        f.write(hb)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr).tobytes())


def read_safetensors(path):
    with open(path, 'rb') as f:
        buf = f.read()
    (hl,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + hl])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        assert info['dtype'] == 'F32'
        b, e = info['data_offsets']
        out[name] = np.frombuffer(buf[8 + hl + b:8 + hl + e], dtype='<f4').reshape(info['shape'])
    return out


def numpy_forward(w, cfg, ids):
    """Independent numpy Llama forward (HF conventions) over the exported tensors: logits [T, V]."""
    d, H, Hkv, hd = cfg['d'], cfg['heads'], cfg['kv_heads'], cfg['hd']
    eps, T = cfg['eps'], len(ids)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    inv = cfg['rope_theta'] ** (-np.arange(0, hd, 2) / hd)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rope(x):  # x [T, heads, hd]
        rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
        return x * cos[:, None, :] + rot * sin[:, None, :]

    x = w['model.embed_tokens.weight'][ids].astype(np.float64)
    for i in range(cfg['layers']):
        p = f'model.layers.{i}.'
        h = rms(x, w[p + 'input_layernorm.weight'])
        q = rope((h @ w[p + 'self_attn.q_proj.weight'].T).reshape(T, H, hd))
        k = rope((h @ w[p + 'self_attn.k_proj.weight'].T).reshape(T, Hkv, hd))
        v = (h @ w[p + 'self_attn.v_proj.weight'].T).reshape(T, Hkv, hd)
        o = np.zeros((T, H, hd))
        for hh in range(H):
            kv = hh // (H // Hkv)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(hd)
            s = s + np.triu(np.full((T, T), -np.inf), 1)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o[:, hh] = s @ v[:, kv]
        x = x + o.reshape(T, H * hd) @ w[p + 'self_attn.o_proj.weight'].T
        h = rms(x, w[p + 'post_attention_layernorm.weight'])
        g = h @ w[p + 'mlp.gate_proj.weight'].T
        u = h @ w[p + 'mlp.up_proj.weight'].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w[p + 'mlp.down_proj.weight'].T
    x = rms(x, w['model.norm.weight'])
    return x @ w['model.embed_tokens.weight'].T


def tokenizer_json():
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [
            {'id': lang.TOK[t], 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
             'normalized': False, 'special': True} for t in lang.SPECIALS
        ],
        'normalizer': None,
        'pre_tokenizer': {'type': 'WhitespaceSplit'},
        'post_processor': None,
        'decoder': None,
        'model': {'type': 'WordLevel', 'vocab': dict(lang.TOK), 'unk_token': '<unk>'},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    ck = torch.load(args.ckpt)
    c = ck['cfg']
    cfg = Config(c['vocab_size'], d=c['d'], layers=c['layers'], heads=c['heads'], kv_heads=c['kv_heads'],
                 inter=c['inter'], max_pos=c['max_pos'], rope_theta=c['rope_theta'], eps=c['eps'], hd=c['hd'])
    model = TinyLlama(cfg)
    model.load_state_dict(ck['model'])
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    tensors = hf_tensors(model)
    write_safetensors(os.path.join(args.out, 'model.safetensors'), tensors, {'format': 'pt'})
    config = {
        'architectures': ['LlamaForCausalLM'],
        'model_type': 'llama',
        'vocab_size': cfg.vocab_size,
        'hidden_size': cfg.d,
        'intermediate_size': cfg.inter,
        'num_hidden_layers': cfg.layers,
        'num_attention_heads': cfg.heads,
        'num_key_value_heads': cfg.kv_heads,
        'head_dim': cfg.hd,
        'hidden_act': 'silu',
        'max_position_embeddings': 512,
        'rms_norm_eps': cfg.eps,
        'rope_theta': cfg.rope_theta,
        'rope_scaling': None,
        'attention_bias': False,
        'mlp_bias': False,
        'tie_word_embeddings': True,
        'bos_token_id': lang.BOS,
        'eos_token_id': lang.EOS,
        'pad_token_id': lang.PAD,
        'torch_dtype': 'float32',
        'initializer_range': 0.02,
        'use_cache': True,
    }
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(args.out, 'tokenizer.json'), 'w') as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    with open(os.path.join(args.out, 'tokenizer_config.json'), 'w') as f:
        json.dump({'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<s>', 'eos_token': '</s>',
                   'unk_token': '<unk>', 'pad_token': '<pad>', 'add_bos_token': True, 'add_eos_token': False,
                   'model_max_length': 512, 'clean_up_tokenization_spaces': False}, f, indent=2)

    # numpy over the written file must reproduce torch logits
    w = read_safetensors(os.path.join(args.out, 'model.safetensors'))
    ctx, q, a = lang.make_sample(12345, 'multikey', 200)
    ids = [lang.BOS] + [lang.TOK[x] for x in ctx + q]
    with torch.no_grad():
        ref = model(torch.tensor([ids]))[0].double().numpy()
    got = numpy_forward(w, vars(cfg), np.array(ids))
    err = np.abs(ref - got).max()
    print(f'numpy vs torch max |logit diff| = {err:.2e} over {len(ids)} tokens; '
          f'argmax at answer: torch {lang.VOCAB[ref[-1].argmax()]} numpy {lang.VOCAB[got[-1].argmax()]} '
          f'(expected {a[0]})')
    assert err < 1e-3, err
    nparams = sum(v.size for v in w.values())
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f'exported {nparams} params to {args.out} ({size/1e6:.2f} MB), ckpt step {ck["step"]} acc {ck["acc"]}')


if __name__ == '__main__':
    main()
