import { DataError } from './errors.js';

/**
 * Names that reach an object's prototype instead of its own data when used
 * as a key (`obj.__proto__ = x` replaces the prototype; `constructor` and
 * `prototype` lead to functions and shared objects). No client string is
 * used as a key without going through these checks.
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isPrototypeKey(key: string): boolean {
  return PROTOTYPE_KEYS.has(key);
}

/** A 400 unless `name` (a field, a path segment, an id, a collection named by a client) is an ordinary key. */
export function assertOrdinaryKey(name: string, what: string): void {
  if (isPrototypeKey(name)) {
    throw new DataError('validation_failed', `${what} may not be named ${name}`);
  }
}

/** A dotted path (`author.name`) whose every segment is an ordinary key. */
export function assertOrdinaryPath(path: string, what: string): void {
  for (const segment of path.split('.')) assertOrdinaryKey(segment, what);
}

/** The value of an own property only: never one inherited from a prototype. */
export function ownValue(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
  return (value as Record<string, unknown>)[key];
}
