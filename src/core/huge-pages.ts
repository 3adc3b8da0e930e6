import { join } from 'node:path';
import { readSystemFile } from '../lib/read-system-file.js';

/**
 * Why this process's argon2id verifications get no transparent huge pages, or null when they do
 * (or where the system does not say: not Linux, an older kernel).
 *
 * @node-rs/argon2 2.2 (argon2-rust 1.1 inside) maps each verification's 19 MiB afresh, 2 MiB-aligned
 * with madvise(MADV_HUGEPAGE), and unmaps it after: no allocator setting keeps it (its mimalloc does
 * not serve that block), so the kernel zeroes it for every login. With huge pages that is about 10
 * faults of 2 MiB and 256 of 4 KiB; without, 4,864 of 4 KiB, and each verification costs about twice
 * the CPU (measured on a loaded 2-vCPU VM, CPU time per verify in a loop, 1 thread, 4 interleaved
 * runs each: 7.3–8.5 ms user + 1.8–2.2 kernel with huge pages, 9.3–11.3 + 8.8–9.5 without; 2
 * threads alike). Without huge pages are machines set to `never`
 * (advice for some databases) and processes whose THP is disabled (prctl PR_SET_THP_DISABLE,
 * inherited from the parent, or set by mimalloc itself when MIMALLOC_ALLOW_THP=0 as the addon loads).
 * `root` is where the file system is read from (`/`; a test gives a tree of its own).
 */
export function hugePagesUnavailable(root = '/'): string | null {
  const status = readSystemFile(join(root, 'proc/self/status'));
  if (status !== null && /^THP_enabled:\s*0\s*$/m.test(status)) {
    return 'disabled for this process (prctl PR_SET_THP_DISABLE: inherited, or MIMALLOC_ALLOW_THP=0)';
  }
  const machine = readSystemFile(join(root, 'sys/kernel/mm/transparent_hugepage/enabled'));
  if (machine !== null && machine.includes('[never]')) {
    return 'off on this machine (/sys/kernel/mm/transparent_hugepage/enabled: never; madvise is enough)';
  }
  return null;
}
