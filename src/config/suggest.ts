/** Moved to src/util/suggest.ts (lower layers suggest too); kept so branches in flight still compile. */
export { closest, didYouMean, editDistance } from '../util/suggest.ts';
