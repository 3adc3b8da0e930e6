import { readFile } from 'node:fs/promises';
import type { OutboxMail } from '../../src/core/ports/outbox.js';

type StoredMail = OutboxMail & { dead?: true };

/**
 * What a file mail queue holds on disk, read as the next process would read
 * it: the live mails (due or leased) and the dead ones the worker gave up on,
 * each in file order. No file is an empty queue.
 */
export async function readMailQueueFile(path: string): Promise<{ live: OutboxMail[]; dead: OutboxMail[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { live: [], dead: [] };
    throw error;
  }
  const parsed = JSON.parse(text) as { mails: StoredMail[] } | StoredMail[];
  // A bare array is the queue's first format.
  const mails = Array.isArray(parsed) ? parsed : parsed.mails;
  const plain = ({ dead: _dead, ...mail }: StoredMail): OutboxMail => mail;
  return {
    live: mails.filter((mail) => !mail.dead).map(plain),
    dead: mails.filter((mail) => mail.dead).map(plain),
  };
}
