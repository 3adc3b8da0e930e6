import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** A message pglite-socket queued for PGlite, as its QueryQueueManager keeps it. */
interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  resolve(bytes: number): void;
  reject(error: unknown): void;
  onData(data: Uint8Array): void;
}

/** The parts of pglite-socket 0.2's (private) QueryQueueManager this file replaces or reads. */
interface QueryQueue {
  db: PGlite;
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  processQueue(): Promise<void>;
  clearQueueForHandler(handlerId: number): void;
}

// Frontend message types (PostgreSQL protocol 3): the extended query protocol's messages, which belong
// together until the Sync that ends them.
const SYNC = 0x53; // 'S'
const SIMPLE_QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'
const EXTENDED = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]); // Parse, Bind, Describe, Execute, Close, Flush

/**
 * Keeps each connection's extended-protocol batch (Parse ... Sync) whole on a pglite-socket server.
 *
 * pglite-socket runs every connection's messages on PGlite's one backend session, one message at a
 * time, and keeps to one connection only while a transaction is open. Outside one, connection B's
 * Parse could run between connection A's Parse and Bind: B's statement replaced A's unnamed one, and A
 * got "unnamed prepared statement does not exist" (26000) or, worse, B's statement bound to A's values.
 * Every parameterised query of node-postgres is such a batch, so this broke the PGlite pass at random.
 *
 * This replaces the queue's scheduler with the same one plus that rule: after an extended-protocol
 * message, the next message run is the same connection's, until its Sync (or its disconnect). It also
 * keeps going after a failed message, where 0.2.17's scheduler stopped for good.
 */
export function keepExtendedQueriesWhole(server: PGLiteSocketServer): void {
  const queue = (server as unknown as { queryQueue: QueryQueue }).queryQueue;
  if (typeof queue?.processQueue !== 'function' || !Array.isArray(queue.queue)) {
    throw new Error('pglite-socket changed its queue: review test/support/pglite-queue.ts');
  }
  let batchOpen = false;

  queue.processQueue = async function processQueue(this: QueryQueue): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const owner = this.lastHandlerId;
        const keepOwner = owner !== null && (batchOpen || this.db.isInTransaction());
        const index = keepOwner ? this.queue.findIndex((item) => item.handlerId === owner) : 0;
        if (index === -1) return; // the owner's next message has not arrived yet: its enqueue resumes us
        const [item] = this.queue.splice(index, 1) as [QueuedMessage];
        const type = item.message[0];
        if (type === SYNC || type === SIMPLE_QUERY || type === TERMINATE) batchOpen = false;
        else if (type !== undefined && EXTENDED.has(type)) batchOpen = true;
        this.lastHandlerId = item.handlerId;
        let bytes = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(item.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
        } catch (error) {
          item.reject(error);
          continue;
        }
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  };

  // A connection that goes away mid-batch must not hold the queue for ever.
  const clearQueueForHandler = queue.clearQueueForHandler.bind(queue);
  queue.clearQueueForHandler = (handlerId: number): void => {
    clearQueueForHandler(handlerId);
    if (queue.lastHandlerId === handlerId && batchOpen) {
      batchOpen = false;
      void queue.processQueue();
    }
  };
}
