import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * GoTrue's second form of refresh token ("v2", supabase/auth
 * internal/crypto/refresh_tokens.go; docs/postgres-schema.md), which a
 * session with `refresh_token_hmac_key` and `refresh_token_counter` issues
 * instead of a row per token. Its bytes, sent as base64url without padding:
 *
 *   0x00 (version) | session id (16 bytes) | counter (unsigned varint)
 *   | HMAC-SHA-256(key, all of the above)[0..16] | SHA-256(all of the above)[0..4]
 *
 * The checksum only throws garbage away cheaply; the signature is what proves
 * the token. Pure: no I/O, no clock.
 */
export interface GoTrueRefreshToken {
  /** The session's id, as PostgreSQL writes a uuid. */
  sessionId: string;
  /** The counter the token carries: current while it equals the session's `refresh_token_counter`. */
  counter: bigint;
}

/** A token that parsed: what it says, and the bytes its signature covers. */
export interface ParsedGoTrueRefreshToken extends GoTrueRefreshToken {
  signed: Buffer;
  signature: Buffer;
}

const VERSION = 0;
const SESSION_ID_BYTES = 16;
const SIGNATURE_BYTES = 16;
const CHECKSUM_BYTES = 4;
/** A uvarint of a 64-bit number takes at most 10 bytes (binary.MaxVarintLen64). */
const MAX_VARINT_BYTES = 10;
const MIN_BYTES = 1 + SESSION_ID_BYTES + 1 + SIGNATURE_BYTES + CHECKSUM_BYTES;
const MAX_BYTES = 1 + SESSION_ID_BYTES + MAX_VARINT_BYTES + SIGNATURE_BYTES + CHECKSUM_BYTES;
/** GoTrue's counter is an int64 (the column is bigint): a larger one names no session's counter. */
const MAX_COUNTER = 2n ** 63n - 1n;
/** The stored key: 32 random bytes, base64url without padding. */
const KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Strict base64url without padding: the one spelling of each byte string (none of Buffer's leniency). */
function decodeBase64Url(text: string): Buffer | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

function checksum(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, CHECKSUM_BYTES);
}

function signatureOf(key: Buffer, signed: Buffer): Buffer {
  return createHmac('sha256', key).update(signed).digest().subarray(0, SIGNATURE_BYTES);
}

/** An unsigned varint (Go's binary.Uvarint) at `offset`: its value and length, or null when malformed. */
function readUvarint(bytes: Buffer, offset: number): { value: bigint; length: number } | null {
  let value = 0n;
  for (let i = 0; i < MAX_VARINT_BYTES && offset + i < bytes.length; i++) {
    const byte = bytes[offset + i]!;
    // The tenth byte holds bit 63 only: more would overflow 64 bits.
    if (i === MAX_VARINT_BYTES - 1 && byte > 1) return null;
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if (byte < 0x80) return { value, length: i + 1 };
  }
  return null;
}

function writeUvarint(value: bigint): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Buffer.from(bytes);
}

function uuidText(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Reads a v2 token's fields, or null when the text is not one (not base64url, a length, version or
 * checksum GoTrue never writes, a malformed counter). Says nothing of its authenticity: check the
 * signature with the session's key (`signedBy`) before believing it.
 */
export function parseGoTrueRefreshToken(token: string): ParsedGoTrueRefreshToken | null {
  if (token.length > Math.ceil((MAX_BYTES * 4) / 3)) return null;
  const bytes = decodeBase64Url(token);
  if (bytes === null || bytes.length < MIN_BYTES || bytes.length > MAX_BYTES) return null;
  if (bytes[0] !== VERSION) return null;
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!timingSafeEqual(checksum(body), bytes.subarray(body.length))) return null;
  const counter = readUvarint(body, 1 + SESSION_ID_BYTES);
  if (counter === null || counter.value > MAX_COUNTER) return null;
  const signedLength = 1 + SESSION_ID_BYTES + counter.length;
  if (body.length - signedLength !== SIGNATURE_BYTES) return null;
  return {
    sessionId: uuidText(body.subarray(1, 1 + SESSION_ID_BYTES)),
    counter: counter.value,
    signed: body.subarray(0, signedLength),
    signature: body.subarray(signedLength),
  };
}

/** True when the session's key signed the token (compared in constant time). */
export function signedBy(token: ParsedGoTrueRefreshToken, key: Buffer): boolean {
  return timingSafeEqual(signatureOf(key, token.signed), token.signature);
}

/**
 * The key of `auth.sessions.refresh_token_hmac_key` as GoTrue stores it unencrypted (32 bytes,
 * base64url without padding), or null: an encrypted key (a JSON string only GoTrue's configured keys
 * open) or anything else restauth cannot use.
 */
export function goTrueHmacKey(stored: string): Buffer | null {
  const key = decodeBase64Url(stored);
  return key !== null && key.length === KEY_BYTES ? key : null;
}

/** A v2 token as GoTrue would issue it: for tests and fixtures that play GoTrue's part. */
export function encodeGoTrueRefreshToken(token: GoTrueRefreshToken, key: Buffer): string {
  const hex = token.sessionId.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a uuid: ${token.sessionId}`);
  if (token.counter < 0n || token.counter > MAX_COUNTER)
    throw new Error(`counter out of range: ${token.counter}`);
  const signed = Buffer.concat([Buffer.of(VERSION), Buffer.from(hex, 'hex'), writeUvarint(token.counter)]);
  const body = Buffer.concat([signed, signatureOf(key, signed)]);
  return Buffer.concat([body, checksum(body)]).toString('base64url');
}
