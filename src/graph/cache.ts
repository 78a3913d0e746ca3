/**
 * On-disk cache of built graphs: `<cacheDir>/<key>/model.onnx` + `model.onnx_data`, where
 * key = sha256(weightsHash + graph options + builder version). A second run with the same model and options
 * loads the cached graph instead of rebuilding it. Builds go to a temporary folder renamed into place, so a
 * killed build never leaves a half-written graph behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedModel } from '../model/spec.ts';
import { KvoptError } from '../util/errors.ts';
import { DEFAULT_GRAPH_OPTIONS, GRAPH_BUILDER_VERSION, IR_VERSION, OPSET, buildDecoderGraph, type GraphOptions } from './llama.ts';

export const MODEL_FILE = 'model.onnx';
export const DATA_FILE = 'model.onnx_data';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `$KVOPT_CACHE_DIR` or `<repo>/.kvopt-cache/graphs`. */
export function graphCacheDir(): string {
  return process.env.KVOPT_CACHE_DIR ? resolve(process.env.KVOPT_CACHE_DIR) : join(REPO_ROOT, '.kvopt-cache', 'graphs');
}

export function graphKey(weightsHash: string, options: GraphOptions): string {
  return createHash('sha256')
    .update(JSON.stringify({ weightsHash, options, builder: GRAPH_BUILDER_VERSION, opset: OPSET }))
    .digest('hex');
}

export interface BuiltGraph {
  /** Path of model.onnx (its weights in model.onnx_data beside it). */
  modelPath: string;
  key: string;
  /** false when the graph came from the cache. */
  built: boolean;
  /** Time spent building and writing (0 when cached), ms. */
  buildMs: number;
}

/** true when the graph of `model` with `options` is already in `cacheDir`. */
export function isGraphBuilt(model: LoadedModel, options: GraphOptions, cacheDir: string = graphCacheDir()): boolean {
  const dir = join(cacheDir, graphKey(model.weightsHash, options));
  return existsSync(join(dir, MODEL_FILE)) && existsSync(join(dir, DATA_FILE));
}

/** Returns the cached graph for `model`, building it first when absent. */
export function ensureGraph(model: LoadedModel, options: GraphOptions = DEFAULT_GRAPH_OPTIONS, cacheDir: string = graphCacheDir()): BuiltGraph {
  if (!model.weightsHash) throw new Error('internal: LoadedModel.weightsHash is empty');
  const key = graphKey(model.weightsHash, options);
  const dir = join(cacheDir, key);
  const modelPath = join(dir, MODEL_FILE);
  if (existsSync(modelPath) && existsSync(join(dir, DATA_FILE))) return { modelPath, key, built: false, buildMs: 0 };

  const t0 = performance.now();
  try {
    mkdirSync(cacheDir, { recursive: true });
  } catch (e) {
    throw new KvoptError(`cannot create the graph cache folder ${cacheDir} (set KVOPT_CACHE_DIR): ${(e as Error).message}`);
  }
  const tmp = join(cacheDir, `${key}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    // weights stream into the data file as the graph is built (an fp16 graph never holds an fp32 copy)
    const g = buildDecoderGraph(model.spec, model.weights, DATA_FILE, options, join(tmp, DATA_FILE));
    g.finishExternalData();
    const bytes = g.encodeModel({
      opset: OPSET,
      irVersion: IR_VERSION,
      metadata: { 'kvopt.weights_hash': model.weightsHash, 'kvopt.options': JSON.stringify(options) },
    });
    writeFileSync(join(tmp, MODEL_FILE), bytes);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another process finished the same graph first: keep theirs.
      if (!existsSync(modelPath)) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { modelPath, key, built: true, buildMs: performance.now() - t0 };
}
