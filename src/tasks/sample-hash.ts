/** A sample's identity in the store: the same content gives the same hash, whatever run loaded it. */
import { createHash } from 'node:crypto';
import type { Sample } from './types.ts';

export const contentHash = (s: Sample): string => createHash('sha256').update(JSON.stringify(s)).digest('hex').slice(0, 32);
