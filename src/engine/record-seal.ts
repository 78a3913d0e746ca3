/**
 * An integrity seal for files kvopt reads back (prefill records): a 44-byte trailer after the bytes,
 *   magic "KVSL" (u32 LE) · byte length of the body (u64 LE) · sha256 of the body (32 bytes),
 * checked before the body is used. It is independent of the body's format, so the record format can
 * change without touching it. A file that was cut short, grown, overwritten with other bytes or written
 * by a kvopt without seals fails the check and is treated as absent (recomputed).
 */
import { createHash } from 'node:crypto';

const MAGIC = 0x4c53564b; // "KVSL"
export const SEAL_BYTES = 4 + 8 + 32;

export function seal(body: Uint8Array): Buffer {
  const trailer = Buffer.alloc(SEAL_BYTES);
  trailer.writeUInt32LE(MAGIC, 0);
  trailer.writeBigUInt64LE(BigInt(body.byteLength), 4);
  createHash('sha256').update(body).digest().copy(trailer, 12);
  return Buffer.concat([body, trailer]);
}

/** The body of a sealed buffer, or a reason why it fails the check. */
export function unseal(buf: Buffer): { body: Buffer } | { error: string } {
  if (buf.length < SEAL_BYTES) return { error: `${buf.length} bytes, shorter than the seal` };
  const t = buf.subarray(buf.length - SEAL_BYTES);
  if (t.readUInt32LE(0) !== MAGIC) return { error: 'no integrity seal (cut short, or written by an older kvopt)' };
  const length = Number(t.readBigUInt64LE(4));
  const body = buf.subarray(0, buf.length - SEAL_BYTES);
  if (length !== body.length) return { error: `length ${body.length}, the seal says ${length}` };
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(t.subarray(12))) return { error: 'checksum mismatch' };
  return { body };
}
