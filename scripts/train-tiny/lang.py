"""Synthetic retrieval language for the kvopt tiny model (no third-party text).

Word-level vocabulary, all words generated here from fixed syllables:
  specials  <pad> <s> </s> <unk>
  markers   query: .
  filler    lowercase pseudo-words (distractor sentences)
  keys      Capitalised pseudo-words (the things facts are about)
  values    the numbers 0..255, one token each
  vars      X0..X99 (variable tracking)

Fact forms inside a document of filler sentences:
  KEY V .            (single / multikey needle: the value right after its key)
  KEY V1 V2 .        (multivalue: a list of two values)
  Xa V .  Xb Xa .    (variable tracking chain "Xa = V", "Xb = Xa", in assignment order)
The value sits right after its subject and the question ends with the subject, so every answer token is one
classic induction lookup (find the earlier occurrence of the current token, copy the token after it). Earlier
versions ("KEY is V" facts, "query: KEY answer:" questions) stayed at chance on multikey for 2,000-3,000 steps
in the time available: they need a previous-token head on the question side as well.
Question: "query: KEY"  ->  answer tokens, then </s>.
For a chain Xa = V, Xb = Xa, Xc = Xb the answer to "query: Xc" is "Xb Xa V": the model names each hop
(a short chain of thought) so that every hop is one retrieval from the cache.
"""
import random

SPECIALS = ['<pad>', '<s>', '</s>', '<unk>']
MARKERS = ['query:', '.']
N_FILLER, N_KEYS, N_VALUES, N_VARS = 384, 256, 256, 100


def _pseudo_words(n, seed, syllables):
    cons = 'bdfgklmnprstvz'
    vows = 'aeiou'
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        w = ''.join(rng.choice(cons) + rng.choice(vows) for _ in range(syllables))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


FILLER = _pseudo_words(N_FILLER, 101, 2)
KEYS = [w.capitalize() for w in _pseudo_words(N_KEYS, 202, 3)]
VALUES = [str(i) for i in range(N_VALUES)]
VARS = [f'X{i}' for i in range(N_VARS)]
VOCAB = SPECIALS + MARKERS + FILLER + KEYS + VALUES + VARS
assert len(set(VOCAB)) == len(VOCAB)
TOK = {w: i for i, w in enumerate(VOCAB)}
PAD, BOS, EOS, UNK = 0, 1, 2, 3
KINDS = ['single', 'multikey', 'multivalue', 'vartrack']


def filler_sentence(rng):
    return [rng.choice(FILLER) for _ in range(rng.randint(3, 9))] + ['.']


def make_facts(rng, kind):
    """Returns (facts: list of word lists in document order, queries: list of (question words, answer words))."""
    facts, queries = [], []
    if kind in ('single', 'multikey', 'multivalue'):
        n = 1 if kind == 'single' else rng.randint(3, 8)
        keys = rng.sample(KEYS, n)
        nvals = 2 * n if kind == 'multivalue' else n
        vals = rng.sample(VALUES, nvals)
        for i, k in enumerate(keys):
            if kind == 'multivalue' and i == 0:
                ans = [vals[0], vals[n]]  # the asked key carries a list of two values
            else:
                ans = [vals[i]]
            facts.append([k] + ans + ['.'])
            queries.append((['query:', k], ans))
        rng.shuffle(facts)
        # multivalue: ask the list-valued key first; others are distractors (usable as extra training queries)
        if kind != 'multivalue':
            rng.shuffle(queries)
    else:  # vartrack
        nchains = rng.randint(1, 3)
        names = rng.sample(VARS, 3 * nchains)
        vals = rng.sample(VALUES, nchains)
        chains = []
        for c in range(nchains):
            ln = rng.randint(2, 3)
            vs = names[3 * c:3 * c + ln]
            steps = [[vs[0], vals[c], '.']] + [[vs[j], vs[j - 1], '.'] for j in range(1, ln)]
            chains.append(steps)
            ans = [vs[j] for j in range(ln - 2, -1, -1)] + [vals[c]]
            queries.append((['query:', vs[-1]], ans))
        # interleave chains keeping each chain's order
        ptr = [0] * nchains
        while any(ptr[c] < len(chains[c]) for c in range(nchains)):
            c = rng.choice([c for c in range(nchains) if ptr[c] < len(chains[c])])
            facts.append(chains[c][ptr[c]])
            ptr[c] += 1
        rng.shuffle(queries)
    return facts, queries


def make_document(rng, kind, ctx_len):
    """Context words (about ctx_len tokens, facts at random depths) and the queries."""
    facts, queries = make_facts(rng, kind)
    fact_len = sum(len(f) for f in facts)
    sentences = []
    n = 0
    while n < ctx_len - fact_len:
        s = filler_sentence(rng)
        sentences.append(s)
        n += len(s)
    if n > ctx_len - fact_len and sentences:
        # trim the last sentence so the context fits, keep its full stop
        last = sentences.pop()
        over = n - (ctx_len - fact_len)
        keep = len(last) - 1 - over
        if keep >= 1:
            sentences.append(last[:keep] + ['.'])
    # facts at random depths, in order
    slots = sorted(rng.randint(0, len(sentences)) for _ in facts)
    out = []
    fi = 0
    for si in range(len(sentences) + 1):
        while fi < len(facts) and slots[fi] == si:
            out += facts[fi]
            fi += 1
        if si < len(sentences):
            out += sentences[si]
    return out, queries


def make_sample(seed, kind, ctx_len):
    """One held-out style sample: context, one question, its answer."""
    rng = random.Random(seed)
    ctx, queries = make_document(rng, kind, ctx_len)
    q, a = queries[0]
    return ctx, q, a
