/** A TCP port as typed on a command line or in an environment variable: digits only, 0 (any free port) to 65535. */
export const PORT_NUMBER = 'a port number (0-65535)';

/** The port `text` names, or null when it is not one (a sign, a fraction, a name, out of range). */
export function parsePortNumber(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const port = Number(text);
  return port > 65535 ? null : port;
}
