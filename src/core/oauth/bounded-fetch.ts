/** A fetch to an identity provider: fetch's shape, with the options its caller gives (openid-client's, jose's). */
export type ProviderFetch<Options> = (url: string, options: Options) => Promise<Response>;

/** An identity provider's answer past identities.providerAnswerLimit: read no further. */
export class ProviderAnswerTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The identity provider's answer is larger than ${limit} bytes`);
    this.name = 'ProviderAnswerTooLarge';
  }
}

/** Statuses whose Response cannot be built with a body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * `inner` whose answers' bodies fail once past `limit` bytes. The time bound alone let a hostile or
 * broken provider stream gigabytes into memory within it (response.json() keeps every byte until
 * the end). A declared Content-Length past the bound is refused before reading; a body that grows
 * past it is cancelled at that chunk, which lets go of the connection at once.
 */
export function sizeBoundedFetch<Options>(
  limit: number,
  inner: ProviderFetch<Options>,
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
    const bounded = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const chunk = await reader.read();
        if (chunk.done) return controller.close();
        read += chunk.value.byteLength;
        if (read <= limit) return controller.enqueue(chunk.value);
        controller.error(tooLarge);
        await reader.cancel(tooLarge).catch(() => {});
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const init = { status: response.status, statusText: response.statusText, headers: response.headers };
    if (response.ok) return new Response(bounded, init);
    // A refusal's body is often never read (jose's key set, openid-client's discovery): read it
    // here, within the bound, so that its connection is let go now and not at the timeout.
    const refusal = await new Response(bounded).arrayBuffer();
    return new Response(NULL_BODY_STATUSES.has(response.status) ? null : refusal, init);
  };
}
