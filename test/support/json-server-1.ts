import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/**
 * json-server 1.x itself (1.0.0-beta.15, the devDependency aliased as
 * `json-server-1`; its engines ask for Node 22.12, and it runs on Node 20.19
 * as well), in-process over an in-memory copy of a db.json: its own app,
 * routes and query grammar, without the file watcher of its command line.
 */
interface JsonServer1App {
  listen(port: number, cb: () => void, host: string): Server;
}
type CreateApp = (db: { data: unknown; write(): Promise<void> }, options: object) => JsonServer1App;

export async function startJsonServer1(data: unknown): Promise<{ base: string; close(): Promise<void> }> {
  const { createApp } = (await import('json-server-1/lib/app.js' as string)) as { createApp: CreateApp };
  // Its service reads db.data and calls write() after a change: memory is enough to compare answers.
  const app = createApp({ data: structuredClone(data), write: async () => {} }, { logger: false });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, () => resolve(listening), '127.0.0.1');
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
