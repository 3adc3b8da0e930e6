import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, RouteOptions } from 'fastify';

/**
 * How long a close waits for requests still being handled: GoTrue's (its
 * http.Server.Shutdown is given one minute, not configurable), so a hung
 * request cannot hold a stop forever.
 */
export const SHUTDOWN_GRACE_MS = 60_000;

/** One request's two ends; the request is over when both came. */
interface Tracked {
  owner: RequestsInFlight;
  responseOver: boolean;
  pipelineOver: boolean;
}

/**
 * Each counted request's state, by its response. Module-level functions, not
 * closures per request, are its listeners: this runs for every request (a
 * data-API read costs tens of µs), and the bundle's keepNames names each
 * closure made (a defineProperty per closure per request).
 */
const tracked = new WeakMap<object, Tracked>();

function responseClosed(this: ServerResponse): void {
  const state = tracked.get(this);
  if (state === undefined) return;
  state.responseOver = true;
  state.owner.endIfOver(this, state);
}

/**
 * Marks `reply`'s pipeline over: its answer reached onSend, its handler settled, or (middlewares.ts)
 * a json-server middleware answered by itself, so no handler will run. Idempotent.
 */
export function pipelineEnded(reply: FastifyReply): void {
  const state = tracked.get(reply.raw);
  if (state === undefined || state.pipelineOver) return;
  state.pipelineOver = true;
  state.owner.endIfOver(reply.raw, state);
}

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
  private running = 0;
  /** Waiting for `running` to reach 0 (settled). */
  private idle: Array<() => void> = [];
  /**
   * Set when the server starts closing. Fastify then closes the connections that are idle and answers
   * new requests 503 with `Connection: close`, but a request being handled keeps its connection alive
   * after its answer, and the close waited for the client to drop it: a keep-alive client (fetch, a
   * proxy) held a SIGTERMed server open for Fastify's 72 s keep-alive timeout, past a supervisor's
   * grace (Kubernetes' 30 s). Its answer now says `Connection: close`, and Node ends the connection.
   */
  private closing = false;

  /** Requests counted and not over yet. */
  get count(): number {
    return this.running;
  }

  /** Counts every request of `app`; call before any route or plugin is registered. */
  track(app: FastifyInstance): void {
    app.addHook('onRequest', (_request, reply, done) => {
      this.running++;
      tracked.set(reply.raw, { owner: this, responseOver: false, pipelineOver: false });
      // 'close' comes after the answer is written, or when the client hangs up first.
      reply.raw.on('close', responseClosed);
      done();
    });
    app.addHook('preClose', async () => {
      this.closing = true;
    });
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (this.closing) reply.header('connection', 'close');
      pipelineEnded(reply);
      done(null, payload);
    });
    app.addHook('onRoute', (route: RouteOptions) => {
      const handler = route.handler;
      route.handler = function (this: FastifyInstance, request, reply) {
        const result: unknown = handler.call(this, request, reply);
        if (result instanceof Promise) {
          void result.then(
            () => pipelineEnded(reply),
            () => pipelineEnded(reply),
          );
        }
        return result as ReturnType<typeof handler>;
      };
    });
  }

  /** Called by a request's listeners: uncounts it once both its ends came. */
  endIfOver(response: object, state: Tracked): void {
    if (!state.responseOver || !state.pipelineOver) return;
    tracked.delete(response);
    this.running--;
    if (this.running > 0) return;
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * Resolves once no request is running (requests that start meanwhile, a
   * keep-alive connection's next, count too), or after `boundMs`; then with
   * the number still running (0 when all ended in time).
   */
  async settled(boundMs: number = SHUTDOWN_GRACE_MS): Promise<number> {
    if (this.running === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    const idle = new Promise<void>((resolve) => this.idle.push(resolve));
    await Promise.race([idle, bound]);
    clearTimeout(timer);
    return this.running;
  }
}
