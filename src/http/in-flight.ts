import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';

/**
 * How long a close waits for requests still being handled: GoTrue's (its
 * http.Server.Shutdown is given one minute, not configurable), so a hung
 * request cannot hold a stop forever.
 */
export const SHUTDOWN_GRACE_MS = 60_000;

/**
 * The requests being handled, whether or not their client is still connected.
 *
 * Fastify's close waits for open connections only: a client that hangs up
 * ends its connection at once, while its handler goes on (hashing, then
 * writing a session). Without this, the stores closed under that handler and
 * it answered its gone client a 500 with a stack trace in the log. A request
 * counts from `onRequest` until both its response is over (sent or its client
 * gone) and its pipeline is: the answer reached `onSend`, or the handler
 * settled without answering (a hung-up client's reply is not always sent).
 */
export class RequestsInFlight {
  private readonly running = new Set<Promise<void>>();

  /** Requests counted and not over yet. */
  get count(): number {
    return this.running.size;
  }

  /** Counts every request of `app`; call before any route or plugin is registered. */
  track(app: FastifyInstance): void {
    const ends = new WeakMap<FastifyRequest, () => void>();
    app.addHook('onRequest', (request, reply, done) => {
      let responseOver = false;
      let pipelineOver = false;
      let settle!: () => void;
      const running = new Promise<void>((resolve) => (settle = resolve));
      this.running.add(running);
      const endIfOver = () => {
        if (!responseOver || !pipelineOver) return;
        this.running.delete(running);
        settle();
      };
      // 'close' comes after the answer is written, or when the client hangs up first.
      reply.raw.once('close', () => {
        responseOver = true;
        endIfOver();
      });
      ends.set(request, () => {
        pipelineOver = true;
        endIfOver();
      });
      done();
    });
    app.addHook('onSend', (request, _reply, payload, done) => {
      ends.get(request)?.();
      done(null, payload);
    });
    app.addHook('onRoute', (route: RouteOptions) => {
      const handler = route.handler;
      route.handler = function (this: FastifyInstance, request, reply) {
        const result: unknown = handler.call(this, request, reply);
        if (result instanceof Promise) void result.finally(() => ends.get(request)?.()).catch(() => {});
        return result as ReturnType<typeof handler>;
      };
    });
  }

  /**
   * Resolves once every request counted so far is over, or after `boundMs`;
   * then with the number still running (0 when all ended in time).
   */
  async settled(boundMs: number = SHUTDOWN_GRACE_MS): Promise<number> {
    let overdue = false;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        overdue = true;
        resolve();
      }, boundMs);
    });
    // Again while requests remain: one may start while the others end (a keep-alive connection's next).
    while (this.running.size > 0 && !overdue) await Promise.race([Promise.all(this.running), bound]);
    clearTimeout(timer);
    return this.running.size;
  }
}
