import { ByteBudget } from '../../lib/byte-budget.js';

/** A fetch to an identity provider: fetch's shape, with the options its caller gives (openid-client's, jose's). */
export type ProviderFetch<Options> = (url: string, options: Options) => Promise<Response>;

/** An identity provider's answer past identities.providerAnswerLimit: read no further. */
export class ProviderAnswerTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The identity provider's answer is larger than ${limit} bytes`);
    this.name = 'ProviderAnswerTooLarge';
  }
}

/**
 * Bytes of identity-provider answers read and not yet done with, across every sign-in of the server
 * (identities.providerAnswerBudget). The per-answer bound alone let N hostile sign-ins hold N times
 * it until their timeout; past the budget an answer fails as one past its own bound does.
 */
export class ProviderAnswerBudget extends ByteBudget {}

/** An answer that fits its own bound but not what is left of the budget every answer shares. */
export class ProviderAnswersOverBudget extends ProviderAnswerTooLarge {
  constructor(budget: number) {
    super(budget);
    this.message = `The identity providers' answers being read pass ${budget} bytes together`;
    this.name = 'ProviderAnswersOverBudget';
  }
}

/** Statuses whose Response cannot be built with a body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * `inner` whose answers' bodies fail once past `limit` bytes, or once the bytes read of all answers
 * still being read pass `budget` (an answer gives its bytes back when it ends, fails or is
 * cancelled). The time bound alone let a hostile or broken provider stream gigabytes into memory
 * within it (response.json() keeps every byte until the end). A declared Content-Length past the
 * bound is refused before reading; a body that grows past it is cancelled at that chunk, which lets
 * go of the connection at once.
 */
export function sizeBoundedFetch<Options>(
  limit: number,
  inner: ProviderFetch<Options>,
  budget: ProviderAnswerBudget = new ProviderAnswerBudget(Number.POSITIVE_INFINITY),
): ProviderFetch<Options> {
  return async (url, options) => {
    const response = await inner(url, options);
    const body = response.body;
    if (body === null) return response;
    const tooLarge = new ProviderAnswerTooLarge(limit);
    if (Number(response.headers.get('content-length') ?? 0) > limit) {
      await body.cancel(tooLarge).catch(() => {});
      throw tooLarge;
    }
    const reader = body.getReader();
    let read = 0;
    const giveBack = () => {
      budget.give(read);
      read = 0;
    };
    const fail = async (controller: ReadableStreamDefaultController<Uint8Array>, error: Error) => {
      giveBack();
      controller.error(error);
      await reader.cancel(error).catch(() => {});
    };
    const bounded = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          giveBack();
          throw error;
        }
        if (chunk.done) {
          giveBack();
          return controller.close();
        }
        const size = chunk.value.byteLength;
        if (read + size > limit) return fail(controller, tooLarge);
        if (!budget.take(size)) return fail(controller, new ProviderAnswersOverBudget(budget.bytes));
        read += size;
        controller.enqueue(chunk.value);
      },
      cancel: (reason) => {
        giveBack();
        return reader.cancel(reason);
      },
    });
    const init = { status: response.status, statusText: response.statusText, headers: response.headers };
    if (response.ok) return new Response(bounded, init);
    // A refusal's body is often never read (jose's key set, openid-client's discovery): read it
    // here, within the bound, so that its connection is let go now and not at the timeout.
    const refusal = await new Response(bounded).arrayBuffer();
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : refusal, init);
  };
}
