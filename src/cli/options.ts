import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: a bad value is reported by commander as a usage error. */
export function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError('must be a port number (0-65535)');
  }
  return Number(value);
}
