import { InvalidArgumentError } from 'commander';
import { parsePortNumber, PORT_NUMBER } from '../lib/port-number.js';

/** Commander argument parsers: a bad value is reported by commander as a usage error. */
export function parsePort(value: string): number {
  const port = parsePortNumber(value);
  if (port === null) throw new InvalidArgumentError(`must be ${PORT_NUMBER}`);
  return port;
}

/** A whole number of milliseconds, 0 or more (json-server's --delay). */
export function parseDelay(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('must be a whole number of milliseconds');
  return Number(value);
}
