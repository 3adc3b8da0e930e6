import { DataError } from './errors.js';
import { first, type Query } from './query.js';

/**
 * JSONP as json-server answered it (Express's res.jsonp): `?callback=name`
 * turns a read's JSON into `/**\/ typeof name === 'function' && name(json);`,
 * served as text/javascript.
 *
 * A JSONP answer is a script any page may load, so only what any page may
 * read anyway is ever one: a read sent without a token (public collections;
 * a `<script>` tag cannot send one, and the data API reads no cookie), and
 * only while CORS lets every origin read (`cors: true`). A read with a token
 * and a callback is refused (400) rather than answered as a script. Express
 * stripped odd characters out of a callback; restauth refuses one (400) that
 * is not a dotted JavaScript name.
 */
const CALLBACK = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/u;
const MAX_CALLBACK_LENGTH = 128;

/** The callback a request names, null when none; throws 400 for one that is not a plain name. */
export function jsonpCallback(query: Query): string | null {
  const callback = first(query.callback);
  if (callback === undefined || callback === '') return null;
  if (callback.length > MAX_CALLBACK_LENGTH || !CALLBACK.test(callback)) {
    throw new DataError(
      'validation_failed',
      'callback must be a JavaScript name (letters, digits, _ and $, dotted), at most 128 characters',
    );
  }
  return callback;
}

/** The script: Express's, with its `/**\/` (against Rosetta Flash) and U+2028/2029 escaped. */
export function jsonpScript(callback: string, json: string): string {
  const body = json.replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029');
  return `/**/ typeof ${callback} === 'function' && ${callback}(${body});`;
}
