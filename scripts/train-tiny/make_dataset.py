"""Held-out retrieval task for the tiny model: same generator as training, seeds 10_000_000 + i (training draws
its documents from random.Random(--seed) streams, validation uses 20_000_000 + i).

Usage: python3 scripts/train-tiny/make_dataset.py --out datasets/retrieval --n 100 --ctx-len 500
       python3 scripts/train-tiny/make_dataset.py --out datasets/retrieval-long --n 24 --ctx-len 2000 --file retrieval-2k.jsonl
Writes <out>/<file> (default retrieval.jsonl; mixed kinds, in rotation) with fields {id, context, question, answers, kind}.
The prompt the model was trained on is: <s> + context tokens + question tokens; the answer follows, then </s>.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lang  # noqa: E402

HELDOUT_SEED0 = 10_000_000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--n', type=int, default=100)
    ap.add_argument('--ctx-len', type=int, default=500)
    ap.add_argument('--file', default='retrieval.jsonl')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, args.file)
    with open(path, 'w') as f:
        for i in range(args.n):
            kind = lang.KINDS[i % len(lang.KINDS)]
            ctx, q, a = lang.make_sample(HELDOUT_SEED0 + i, kind, args.ctx_len)
            f.write(json.dumps({'id': f'retrieval-{i:03d}', 'context': ' '.join(ctx), 'question': ' '.join(q),
                                'answers': [' '.join(a)], 'kind': kind}) + '\n')
    print(f'wrote {args.n} samples to {path} ({os.path.getsize(path)/1e3:.0f} KB)')


if __name__ == '__main__':
    main()
