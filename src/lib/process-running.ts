/**
 * Whether a process of this pid runs on this host (this process counts): a file named after its
 * writer's pid is a crash's leftover only once that writer is gone.
 */
export function processIsRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
