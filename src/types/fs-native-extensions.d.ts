/** The part of fs-native-extensions restauth uses (the package ships no types). */
declare module 'fs-native-extensions' {
  /**
   * An advisory lock on an open file, held by the kernel for the open file
   * description (fcntl F_OFD_SETLK on Linux, flock on macOS): true if granted,
   * false if another open file holds it.
   */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
