/**
 * PrefillRecords whose K/V stay on the device (WebGPU): their host `cache` is absent until downloaded
 * (ModelRuntime.hostCache), and reading it before is an internal error that names the fix, never a silent empty cache.
 */
import type { DeviceDecodeCache } from './device-cache.ts';
import type { KvCache, PrefillRecord } from './types.ts';

/** A PrefillRecord of `fields` whose cache is `device`; attachHostCache gives it its host copy. */
export function deviceRecord(fields: Omit<PrefillRecord, 'cache' | 'device'>, device: DeviceDecodeCache): PrefillRecord {
  const record = { ...fields, device } as PrefillRecord;
  Object.defineProperty(record, 'cache', {
    configurable: true,
    enumerable: false,
    get(): never {
      throw new Error("internal: this prefill's K/V are on the device (record.device); await ModelRuntime.hostCache(record) first");
    },
  });
  return record;
}

/** True when the record's cache is on the host (always, except for a device record not yet downloaded). */
export function hasHostCache(record: PrefillRecord): boolean {
  return Object.getOwnPropertyDescriptor(record, 'cache')?.get === undefined;
}

/** Gives a device record its downloaded host cache. */
export function attachHostCache(record: PrefillRecord, cache: KvCache): void {
  Object.defineProperty(record, 'cache', { configurable: true, enumerable: true, writable: true, value: cache });
}
