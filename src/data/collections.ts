import type { FastifyRequest } from 'fastify';
import pluralize from 'pluralize';
import { isSecretField } from '../lib/identity-fields.js';
import { looseString } from './loose.js';
import type { Row } from './query.js';

/** A record is a JSON object: not null, not an array. */
export { isPlainObject as isRow } from '../lib/is-plain-object.js';

/**
 * json-server compares ids as strings: /posts/1 finds id 1 and id "1". A value without a string form
 * (a stored {"toString": 1}) is the same id as nothing, rather than a throw answering 500.
 */
export function sameId(a: unknown, b: unknown): boolean {
  if (a === undefined || a === null || b === undefined || b === null) return false;
  const text = looseString(a);
  return text !== null && text === looseString(b);
}

/** The foreign key naming a record of `collection` in another one: posts → postId. */
export function foreignKey(collection: string, suffix: string): string {
  return `${pluralize.singular(collection)}${suffix}`;
}

export function pluralOf(name: string): string {
  return pluralize(name);
}

export function withoutSecrets(row: Row): Row {
  let copy: Row | null = null;
  for (const key of Object.keys(row)) {
    // A user record's password-like fields (lib/identity-fields.ts), whatever a hand edit or another tool put there.
    if (isSecretField(key)) {
      copy ??= { ...row };
      delete copy[key];
    }
  }
  return copy ?? row;
}

export function hasSecretKey(row: Row): boolean {
  return Object.keys(row).some(isSecretField);
}

/**
 * The request's URL under the server's configured public address, for the
 * Location and Link headers json-server builds from the request. Never the
 * Host header: a client (or a cache in front) would otherwise have the
 * server point other clients at any origin it names.
 */
export function fullUrl(publicUrl: string, request: FastifyRequest): string {
  return `${publicUrl}${request.originalUrl ?? request.url}`;
}
