import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';

/**
 * A local HTTP server that answers every request at once, closed after the test file: what a test of
 * "the event loop is not held" asks a request of while the work under test runs. `request()` sends
 * one and resolves once its answer is read.
 */
export async function answeringServer(): Promise<{ request: () => Promise<void> }> {
  const server = createServer((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  const request = () =>
    new Promise<void>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/' }, (response) => {
        response.resume();
        response.on('end', resolve);
      }).on('error', reject);
    });
  return { request };
}

/**
 * The pieces a file is written in (`onPiece`, given each piece's length), with a request sent at the
 * first: `answeredBefore()`, called once the writing ended, says whether it was answered before then.
 */
export async function requestAtFirstPiece(): Promise<{
  pieces: number[];
  onPiece: (characters: number) => void;
  answeredBefore: () => Promise<boolean>;
}> {
  const { request } = await answeringServer();
  const pieces: number[] = [];
  let answered: Promise<void> | null = null;
  let answeredDuring = false;
  let ended = false;
  return {
    pieces,
    onPiece: (characters) => {
      pieces.push(characters);
      answered ??= request().then(() => {
        answeredDuring = !ended;
      });
    },
    answeredBefore: async () => {
      ended = true;
      await answered;
      return answeredDuring;
    },
  };
}
