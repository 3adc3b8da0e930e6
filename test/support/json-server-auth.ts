import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * json-server-auth 2.1.0 itself (a devDependency) on json-server 0.17.4, in-process as its README's
 * "Module usage" builds it: the router's db bound to the app, its permission rewriter (which reads its
 * CLI's `{"posts": 664}` shorthand as well as rewrites), its middlewares, then the router.
 */
const require = createRequire(import.meta.url);
const jsonServer = require('json-server') as {
  create(): {
    db?: unknown;
    use(...args: unknown[]): void;
    listen(port: number, host: string, cb: () => void): Server;
  };
  router(file: string): { db: unknown };
  defaults(options: object): unknown;
};
const auth = require('json-server-auth') as unknown[] & {
  rewriter(routes: Record<string, string | number>): unknown;
};

export interface RunningJsonServerAuth {
  base: string;
  close(): Promise<void>;
}

export async function startJsonServerAuth(
  dbFile: string,
  routes: Record<string, string | number> = {},
): Promise<RunningJsonServerAuth> {
  const app = jsonServer.create();
  const router = jsonServer.router(dbFile);
  app.db = router.db;
  app.use(jsonServer.defaults({ logger: false }));
  app.use(auth.rewriter(routes));
  app.use(auth);
  app.use(router);
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The users jsonServerAuthProject registers through json-server-auth. */
export const JSON_SERVER_AUTH_USERS = [
  { email: 'olivier@mail.com', password: 'bestPassw0rd', firstname: 'Olivier' },
  // json-server-auth took 4 characters: a password restauth would not accept for a new account.
  { email: 'jeremy@mail.com', password: 'abcd', firstname: 'Jeremy' },
];

async function post(base: string, path: string, body: unknown, token?: string) {
  const response = await fetch(base + path, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A folder holding the db.json json-server-auth leaves after its users registered and wrote a post each. */
export async function jsonServerAuthProject(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-jsa-takeover-'));
  await writeFile(join(dir, 'db.json'), JSON.stringify({ users: [], posts: [] }));
  const server = await startJsonServerAuth(join(dir, 'db.json'), { posts: 644 });
  try {
    for (const user of JSON_SERVER_AUTH_USERS) {
      const registered = await post(server.base, '/register', user);
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
      const { accessToken, user: record } = registered.body as { accessToken: string; user: { id: number } };
      const written = await post(
        server.base,
        '/posts',
        { title: `by ${user.firstname}`, userId: record.id },
        accessToken,
      );
      assert.equal(written.status, 201, JSON.stringify(written.body));
    }
  } finally {
    await server.close();
  }
  return dir;
}
