import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS, methodWindow, parseMethod, splitMethodList } from '../../src/compress/registry.ts';
import { KvoptError } from '../../src/util/errors.ts';

test('every preset parses with its documented stages and defaults', () => {
  const stages = (n: string) => {
    const m = parseMethod(n);
    return [m.scorer.name, m.allocator.name, m.quantizer?.name ?? null];
  };
  assert.deepEqual(stages('full'), ['full', 'all', null]);
  assert.deepEqual(stages('streaming'), ['streaming', 'uniform', null]);
  assert.deepEqual(stages('h2o'), ['h2o', 'uniform', null]);
  assert.deepEqual(stages('snapkv'), ['snapkv', 'uniform', null]);
  assert.deepEqual(stages('pyramidkv'), ['snapkv', 'pyramid', null]);
  assert.deepEqual(stages('adakv'), ['snapkv', 'adakv', null]);
  assert.deepEqual(stages('criticalkv'), ['criticalkv', 'uniform', null]);
  assert.deepEqual(stages('ada-criticalkv'), ['criticalkv', 'adakv', null]);
  assert.deepEqual(stages('defensivekv'), ['defensivekv', 'adakv', null]);
  assert.deepEqual(stages('layer-defensivekv'), ['defensivekv', 'layer-global', null]);
  assert.deepEqual(stages('kivi2'), ['full', 'all', 'kivi']);
  assert.deepEqual(stages('snapkv+kivi4'), ['snapkv', 'uniform', 'kivi']);
  assert.deepEqual(parseMethod('snapkv').scorer.options, {
    window: 32,
    kernel: 7,
    pooling: 'max',
    aggregation: 'sum',
    gqa: 'mean',
    gqa_order: 'pool-then-group',
  });
  assert.equal(parseMethod('adakv').scorer.options.gqa_order, 'group-then-pool'); // AdaKV's reference order
  assert.deepEqual(parseMethod('defensivekv').scorer.options, { window: 32, kernel: 5, mass_threshold: 0.9, window_bias: 'window', stage1_count: 'reach' });
  assert.deepEqual(parseMethod('defensivekv').allocator.options, { alpha: 0 });
  assert.deepEqual(parseMethod('adakv').allocator.options, { alpha: 0.2 });
  assert.deepEqual(parseMethod('pyramidkv').allocator.options, { beta: 20, fallback: 'clamp' });
  assert.deepEqual(parseMethod('kivi4').quantizer!.options, { bits: '4', group_size: 32, residual: 128, storage: 'fp16' });
  assert.equal(parseMethod('criticalkv').scorer.options.first_stage_ratio, 0.5);
  assert.equal(parseMethod('criticalkv').scorer.options.epsilon, 1e-4);
  assert.equal(parseMethod('streaming').scorer.options.sinks, 4);
  for (const name of Object.keys(METHODS)) if (name !== 'profile') assert.equal(parseMethod(name).label, name);
  assert.equal(methodWindow(parseMethod('defensivekv(window=64)')), 64);
  assert.equal(methodWindow(parseMethod('h2o')), 0);
  assert.equal(methodWindow(parseMethod('adakv')), 32);
});

test('options inline, in object form, routed to their stage; labels are canonical', () => {
  const a = parseMethod('snapkv(window=16,kernel=5,pooling=avg)');
  assert.deepEqual(a.scorer.options, { window: 16, kernel: 5, pooling: 'avg', aggregation: 'sum', gqa: 'mean', gqa_order: 'pool-then-group' });
  assert.equal(a.label, 'snapkv(kernel=5,pooling=avg,window=16)');
  const b = parseMethod({ snapkv: { window: 32, kernel: 7, pooling: 'max' } });
  assert.deepEqual(b.scorer.options.kernel, 7);
  const c = parseMethod({ adakv: { scorer: 'snapkv', alpha: 0.5, window: 8 } });
  assert.equal(c.allocator.options.alpha, 0.5);
  assert.equal(c.scorer.options.window, 8);
  const d = parseMethod({ 'snapkv+kivi4': { window: 16, residual: 32 } });
  assert.equal(d.scorer.options.window, 16);
  assert.equal(d.quantizer!.options.residual, 32);
  assert.equal(d.quantizer!.options.bits, '4');
  assert.equal(d.label, 'snapkv(window=16)+kivi4(residual=32)');
  const e = parseMethod('h2o(recent=8)+kivi(bits=2,residual=32)');
  assert.equal(e.scorer.options.recent, '8');
  assert.equal(e.quantizer!.options.bits, '2');
  const f = parseMethod({ adakv: { scorer: 'criticalkv' } });
  assert.equal(f.label, 'adakv(scorer=criticalkv)');
  assert.equal(parseMethod({ kivi: { bits: 4 } }).quantizer!.options.bits, '4');
  assert.deepEqual(splitMethodList('snapkv(window=16,kernel=5), adakv ,kivi2'), ['snapkv(window=16,kernel=5)', 'adakv', 'kivi2']);
});

test('unknown names and options are KvoptErrors that name them and list the valid ones', () => {
  const err = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof KvoptError && re.test(e.message));
  err(() => parseMethod('snapkvv'), /unknown method 'snapkvv'.*valid methods: full, streaming/);
  err(() => parseMethod('snapkv(windw=3)'), /unknown option 'windw'.*valid options: window, kernel, pooling, aggregation, gqa/);
  err(() => parseMethod({ adakv: { alfa: 1 } }), /unknown option 'alfa'.*alpha/);
  err(() => parseMethod('snapkv(pooling=median)'), /pooling = "median": expected one of max, avg, none/);
  err(() => parseMethod('snapkv(kernel=4)'), /kernel must be odd/);
  err(() => parseMethod('snapkv(window=abc)'), /window = "abc": expected an integer/);
  err(() => parseMethod('kivi(bits=3)'), /bits.*expected one of 2, 4, 8, 16/);
  err(() => parseMethod('kivi(residual=40)'), /residual 40 must be a multiple of group_size 32/);
  err(() => parseMethod('kivi4+snapkv'), /compose as <eviction>\+<quantiser>/);
  err(() => parseMethod('profile'), /option file is required/);
  err(() => parseMethod({ adakv: { scorer: 'magic' } }), /unknown scorer 'magic'/);
  err(() => parseMethod({ a: {}, b: {} } as never), /expected a name/);
});
