/** Public surface of the tasks folder for the engine and the CLI. */
export type { Sample, TaskDefinition, PromptParts, PromptOptions, LoadOptions, TokenCodec } from './types.ts';
export { createTask, type TaskContext } from './registry.ts';
export { longBenchTask, buildLongBenchPrompt, loadLongBench } from './longbench.ts';
export { LONGBENCH_DATASETS, LONGBENCH_DATASET_NAMES, isLongBenchDataset } from './longbench-config.ts';
export { gsm8kTask, loadGsm8k } from './gsm8k.ts';
export { needleTask, needleSamples, buildNeedleContext } from './needle.ts';
export { continuationTask, loadContinuation, type ContinuationMeta } from './continuation.ts';
export { sampleFileTask, loadSampleFile } from './sample-file.ts';
export { renderChat, renderChatSplit } from './chat-template.ts';
export { middleTruncateIds, middleTruncateText } from './truncate.ts';
export { scoreLongBenchPredictions } from './score-predictions.ts';
export { scorePrediction, type MetricName } from './metrics/index.ts';
export { datasetScore, bucketScores } from './metrics/aggregate.ts';
export { meanLogLikelihood, top1Agreement, meanKlDivergence } from './metrics/logits.ts';
