/**
 * Is WebGPU usable in this process? Builds a one-node graph (y = x·W), runs it on the WebGPU execution provider
 * and checks the answer. Used by `kvopt doctor`-style checks and by the tests' WebGPU gate (in a child process, so a
 * driver that crashes takes down only the probe). Run directly: `node --import tsx src/runtime/webgpu-probe.ts`
 * prints `ok <adapter info>` or `unavailable: <reason>` and exits 0 or 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/builder.ts';
import { DataType } from '../graph/onnx-proto.ts';

export async function probeWebgpu(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-webgpu-probe-'));
  try {
    const g = new GraphBuilder('probe.onnx_data');
    const x = g.input('x', DataType.FLOAT, [1, 2]);
    const w = g.weight('w', Float32Array.of(1, 2, 3, 4), [2, 2]);
    g.opTo('y', 'MatMul', [x, w]);
    g.output('y', DataType.FLOAT, [1, 2]);
    g.writeExternalData(join(dir, 'probe.onnx_data'));
    writeFileSync(join(dir, 'probe.onnx'), g.encodeModel({ opset: 21, irVersion: 10, metadata: {} }));
    ort.env.logLevel = 'fatal';
    const s = await ort.InferenceSession.create(join(dir, 'probe.onnx'), { executionProviders: ['webgpu'], logSeverityLevel: 4 });
    const out = await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 1), [1, 2]) });
    const y = out.y.data as Float32Array;
    await s.release();
    if (y[0] !== 4 || y[1] !== 6) return { ok: false, reason: `WebGPU ran but computed [${y[0]}, ${y[1]}] instead of [4, 6]` };
    return { ok: true };
  } catch (e) {
    return {
      ok: false,
      reason: String((e as Error).message ?? e)
        .split('\n')[0]
        .replace(/^.*? was false\. /, ''),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const r = await probeWebgpu();
  process.stdout.write(r.ok ? 'ok\n' : `unavailable: ${r.reason}\n`);
  process.exit(r.ok ? 0 : 1);
}
