"""Greedy exact-match accuracy (full cache) of a checkpoint on the held-out JSONL task, PyTorch side.

Usage: python3 scripts/train-tiny/eval_heldout.py --ckpt /tmp/kvopt-tiny-run/best.pt --data datasets/retrieval/retrieval.jsonl
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lang  # noqa: E402
from model import Config, TinyLlama  # noqa: E402
from train import greedy_accuracy  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--data', required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(args.ckpt)
    c = ck['cfg']
    model = TinyLlama(Config(c['vocab_size'], d=c['d'], layers=c['layers'], heads=c['heads'], kv_heads=c['kv_heads'],
                             inter=c['inter'], max_pos=c['max_pos'], rope_theta=c['rope_theta'], eps=c['eps'],
                             hd=c['hd']))
    model.load_state_dict(ck['model'])
    prompts = []
    for line in open(args.data):
        s = json.loads(line)
        words = ['<s>'] + s['context'].split() + s['question'].split()
        prompts.append((s['kind'], [lang.TOK[w] for w in words], [lang.TOK[w] for w in s['answers'][0].split()]))
    t0 = time.time()
    acc, per_kind = greedy_accuracy(model, prompts)
    lens = [len(p) for _, p, _ in prompts]
    print(f'{args.data}: {len(prompts)} samples, prompt {min(lens)}-{max(lens)} tokens, greedy exact match '
          f'{acc:.3f} {per_kind} ({time.time() - t0:.0f} s)')


if __name__ == '__main__':
    main()
