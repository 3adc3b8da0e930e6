/**
 * Preloaded by the footprint bench into every server it starts, restauth and
 * json-server alike (`node --expose-gc --import <this file>`): on SIGWINCH it
 * runs full collections and writes one line to stderr, `footprint-probe `
 * and a JSON object of the heap and RSS left. The RSS a second after start
 * holds whatever garbage V8's last collection left (at 50,000 users it swung
 * by 130 MiB for the same live heap); what survives a full collection does not.
 * Plain ESM without tsx: it runs inside the built server and json-server.
 * SIGWINCH (a terminal resized), which neither server acts on and Node ignores
 * by default: restauth stops on SIGUSR2, as on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { getHeapStatistics } from 'node:v8';

const MiB = 1024 * 1024;

process.on('SIGWINCH', () => {
  // Twice: objects whose finalizers or weak callbacks ran in the first are freed by the second.
  globalThis.gc();
  globalThis.gc();
  const memory = process.memoryUsage();
  const heap = getHeapStatistics();
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  const figures = {
    heapUsedMiB: memory.heapUsed / MiB,
    heapCommittedMiB: heap.total_heap_size / MiB,
    externalMiB: memory.external / MiB,
    arrayBuffersMiB: memory.arrayBuffers / MiB,
    rssMiB: rssKiB / 1024,
  };
  process.stderr.write(`footprint-probe ${JSON.stringify(figures)}\n`);
});
