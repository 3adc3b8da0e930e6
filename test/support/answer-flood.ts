import type { ServerResponse } from 'node:http';

/**
 * A provider's answer (`status`) that never ends: `bytes` of one JSON string as fast as the reader
 * takes them (backpressure respected, so the test's own memory stays flat), then held open. A
 * reader without a size bound keeps waiting for its end; one with a bound lets go and it closes.
 */
export function floodAnswer(response: ServerResponse, bytes: number, status = 200): void {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let sent = 0;
  const more = () => {
    while (sent < bytes && !response.destroyed) {
      sent += chunk.length;
      if (!response.write(chunk)) return void response.once('drain', more);
    }
  };
  response.writeHead(status, { 'content-type': 'application/json' });
  response.write('{"flood":"');
  more();
}
