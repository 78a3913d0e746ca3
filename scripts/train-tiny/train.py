"""Train the kvopt tiny retrieval model (seeded, wall-clock budgeted, curriculum of sequence lengths).

Usage: nice -n 10 python3 scripts/train-tiny/train.py --out /tmp/tiny-run --budget-min 75 --seed 1
Writes <out>/log.txt, <out>/best.pt (best validation accuracy at the full length 512), <out>/last.pt.
Export afterwards with export.py.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lang  # noqa: E402
from model import Config, TinyLlama  # noqa: E402

FULL_LEN = 512
VAL_SEED0 = 20_000_000  # validation seeds; held-out dataset uses 10_000_000+, training uses per-step streams


def training_sequence(rng, T):
    """BOS + context + up to 8 (query, answer, </s>) blocks, at most T tokens. Loss targets on answer + </s>."""
    kind = rng.choice(lang.KINDS)
    # reserve room for the queries (each at most 3 + 3 + 1 tokens)
    if rng.random() < 0.5:
        # short context, room for many question blocks: dense signal for the key-matching (induction) circuit
        ctx_len = rng.randint(max(16, T // 8), max(17, T // 2))
    else:
        ctx_len = rng.randint(max(16, T // 4), T - 8)  # the first query block (<= 7 tokens) always fits
    ctx, queries = lang.make_document(rng, kind, ctx_len)
    words = ['<s>'] + ctx
    tgt = []  # positions p whose next token (p+1) is a target
    for q, a in queries[:8]:
        block = q + a + ['</s>']
        if len(words) + len(block) > T:
            break
        start = len(words) + len(q) - 1  # last question token: its next token is the first answer token
        words += block
        tgt += list(range(start, start + len(a) + 1))
    ids = [lang.TOK[w] for w in words]
    return ids, tgt


def induction_init(model, cfg, a=6.0, c=0.04, copy_scale=0.02, beta=3.0, gamma=0.1):
    """Scaffold for the induction circuit (every weight stays trainable).

    Residual layout at init: dim 0 a constant c (a position-free direction for RoPE), dims 1..31 the token
    embedding, dims 33..63 empty (they receive the previous token).
    - layer 0, KV head 0 / query head 0: a previous-token head. For the 8 fastest RoPE pairs k~_i = a*x0 and
      q~_i = a*x0*exp(-i*w_i), so the score is a^2 x0^2/sqrt(hd) * sum_i cos((t-s-1) w_i), largest at t-s = 1;
      its value/output copy dims 1..31 of the previous token into dims 33..63.
    - layer 1, KV head 0 / query head 0: the match head. On the 6 slowest RoPE pairs (position-free over 512
      tokens) the query reads the current token (dims 1..31) and the key reads the copied previous token
      (dims 33..63) through the same projection; its value/output copy the attended token's dims 1..31 back
      into dims 1..31, so the token after the earlier occurrence of the current token gets the logit.
    Without it the key-matching circuit had not formed within 2,400-3,600 steps in six runs (models/README.md)."""
    d, hd, half = cfg.d, cfg.hd, cfg.hd // 2
    assert d == 64 and hd == 32
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        E = model.embed.weight
        E[:, 0] = c
        E[:, 32:] = 0
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2).float() / hd))
        b0, b1 = model.blocks[0], model.blocks[1]
        # layer 0 previous-token head
        b0.q_proj.weight[:hd] = 0
        b0.k_proj.weight[:hd] = 0
        for i in range(8):
            b0.k_proj.weight[i, 0] = a
            b0.q_proj.weight[i, 0] = a * math.cos(inv[i].item())
            b0.q_proj.weight[i + half, 0] = -a * math.sin(inv[i].item())
        b0.v_proj.weight[:hd] = 0
        b0.o_proj.weight[:, :hd] = 0
        for j in range(31):  # v dim j <- h dim 1+j ; residual dim 33+j <- v dim j
            b0.v_proj.weight[j, 1 + j] = 1.0
            b0.o_proj.weight[33 + j, j] = copy_scale
        # layer 1 match head on the slowest pairs
        slow = list(range(half - 6, half)) + list(range(hd - 6, hd))  # 12 dims
        R = torch.linalg.qr(torch.randn(31, 12, generator=g))[0].t()  # [12, 31] orthonormal rows
        b1.q_proj.weight[:hd] = 0
        b1.k_proj.weight[:hd] = 0
        for r, dim in enumerate(slow):
            b1.q_proj.weight[dim, 1:32] = beta * R[r]
            b1.k_proj.weight[dim, 33:64] = beta * R[r]
        b1.v_proj.weight[:hd] = 0
        b1.o_proj.weight[:, :hd] = 0
        for j in range(31):
            b1.v_proj.weight[j, 1 + j] = 1.0
            b1.o_proj.weight[1 + j, j] = gamma


def make_batch(rng, B, T):
    ids = torch.full((B, T), lang.PAD, dtype=torch.long)
    bidx, pidx, targets = [], [], []
    for b in range(B):
        s, tg = training_sequence(rng, T)
        ids[b, :len(s)] = torch.tensor(s)
        for p in tg:
            bidx.append(b)
            pidx.append(p)
            targets.append(s[p + 1])
    return ids, torch.tensor(bidx), torch.tensor(pidx), torch.tensor(targets)


def eval_prompts(seed0, n, ctx_len):
    out = []
    for i in range(n):
        kind = lang.KINDS[i % len(lang.KINDS)]
        ctx, q, a = lang.make_sample(seed0 + i, kind, ctx_len)
        out.append((kind, [lang.TOK[w] for w in ['<s>'] + ctx + q], [lang.TOK[w] for w in a]))
    return out


@torch.no_grad()
def greedy_accuracy(model, prompts, max_new=4, bs=32):
    """Exact match of the greedy continuation up to </s> (full cache: plain causal forward)."""
    model.eval()
    correct, per_kind = 0, {}
    for s in range(0, len(prompts), bs):
        chunk = prompts[s:s + bs]
        seqs = [list(p) for _, p, _ in chunk]
        outs = [[] for _ in chunk]
        done = [False] * len(chunk)
        for _ in range(max_new):
            L = max(len(x) for x in seqs)
            ids = torch.full((len(seqs), L), lang.PAD, dtype=torch.long)
            for i, x in enumerate(seqs):
                ids[i, :len(x)] = torch.tensor(x)
            h = model.hidden(ids)
            last = torch.stack([h[i, len(x) - 1] for i, x in enumerate(seqs)])
            nxt = model.logits_at(last).argmax(-1).tolist()
            for i, t in enumerate(nxt):
                if not done[i]:
                    if t == lang.EOS:
                        done[i] = True
                    else:
                        outs[i].append(t)
                        seqs[i].append(t)
            if all(done):
                break
        for (kind, _, ans), o, dn in zip(chunk, outs, done):
            ok = (o == ans)
            correct += ok
            k = per_kind.setdefault(kind, [0, 0])
            k[0] += ok
            k[1] += 1
    model.train()
    return correct / len(prompts), {k: v[0] / v[1] for k, v in per_kind.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--budget-min', type=float, default=75.0, help='wall-clock budget for training, minutes')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--d', type=int, default=128)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--inter', type=int, default=256)
    ap.add_argument('--hd', type=int, default=32)
    ap.add_argument('--rope-theta', type=float, default=100000.0)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--tokens-per-step', type=int, default=4096)
    ap.add_argument('--stages', default='128,256,512')
    ap.add_argument('--stage-frac', default='0.4,0.25,0.35', help='max share of the budget per stage')
    ap.add_argument('--advance-acc', type=float, default=0.95, help='move to the next stage at this val accuracy')
    ap.add_argument('--eval-every', type=int, default=100)
    ap.add_argument('--max-steps', type=int, default=10**9)
    ap.add_argument('--induction-init', type=int, default=1, help='1: start with an induction-circuit scaffold')
    ap.add_argument('--init-ckpt', default=None, help='continue from this checkpoint (weights only, fresh optimiser)')
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--val-n', type=int, default=64, help='validation samples at length 512')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, 'log.txt'), 'a')

    def log(msg):
        line = f'{time.strftime("%H:%M:%S")} {msg}'
        print(line, flush=True)
        logf.write(line + '\n')
        logf.flush()

    cfg = Config(len(lang.VOCAB), d=args.d, layers=args.layers, heads=4, kv_heads=2, inter=args.inter,
                 max_pos=1024, rope_theta=args.rope_theta, hd=args.hd)
    model = TinyLlama(cfg)
    if args.init_ckpt:
        model.load_state_dict(torch.load(args.init_ckpt)['model'])
    elif args.induction_init:
        induction_init(model, cfg)
    nparams = sum(p.numel() for p in model.parameters())
    log(f'start args={vars(args)} params={nparams}')
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    stages = [int(x) for x in args.stages.split(',')]
    fracs = [float(x) for x in args.stage_frac.split(',')]
    budget = args.budget_min * 60
    t0 = time.time()
    rng = random.Random(args.seed)
    stage, stage_t0 = 0, t0
    val_full = eval_prompts(VAL_SEED0, args.val_n, FULL_LEN - 8)
    best = -1.0
    step = 0
    ema = None

    def save(path, acc):
        torch.save({'model': model.state_dict(), 'cfg': vars(cfg), 'acc': acc, 'step': step,
                    'stage': stages[stage], 'elapsed': time.time() - t0}, path)

    while True:
        el = time.time() - t0
        if el > budget or step >= args.max_steps:
            break
        T = stages[stage]
        B = max(1, args.tokens_per_step // T)
        # lr: warmup (100 steps), constant, then linear decay over the last 25% of the budget
        frac = el / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (1.0 if frac < 0.75 else max(0.05, (1 - frac) / 0.25))
        for g in opt.param_groups:
            g['lr'] = lr
        ids, bi, pi, tg = make_batch(rng, B, T)
        h = model.hidden(ids)
        logits = model.logits_at(h[bi, pi])
        loss = F.cross_entropy(logits, tg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 20 == 0:
            log(f'step {step} T {T} B {B} loss {ema:.4f} lr {lr:.2e} elapsed {el/60:.1f}m')
        every = args.eval_every if stages[stage] < FULL_LEN else max(1, args.eval_every * 3 // 4)
        if step % every == 0:
            if stages[stage] < FULL_LEN:
                acc, pk = greedy_accuracy(model, eval_prompts(VAL_SEED0 + 1000 * T, 64, T - 8))
                log(f'eval step {step} len {T} acc {acc:.3f} {pk}')
                stage_over = (time.time() - stage_t0) > fracs[stage] * budget
                if acc >= args.advance_acc or stage_over:
                    stage += 1
                    stage_t0 = time.time()
                    log(f'advance to stage {stages[stage]} (acc {acc:.3f}, time-out {stage_over})')
            else:
                acc, pk = greedy_accuracy(model, val_full)
                log(f'eval step {step} len {FULL_LEN} acc {acc:.3f} {pk}')
                if acc >= best:
                    best = acc
                    save(os.path.join(args.out, 'best.pt'), acc)
                    log(f'saved best {acc:.3f}')
            save(os.path.join(args.out, 'last.pt'), None)
    acc, pk = greedy_accuracy(model, val_full)
    log(f'final eval step {step} len {FULL_LEN} acc {acc:.3f} {pk}')
    if acc >= best:
        best = acc
        save(os.path.join(args.out, 'best.pt'), acc)
    save(os.path.join(args.out, 'last.pt'), acc)
    log(f'done steps {step} wall {(time.time()-t0)/60:.1f} min best {best:.3f}')


if __name__ == '__main__':
    main()
