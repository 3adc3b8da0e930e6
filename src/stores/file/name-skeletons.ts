import { nameSkeleton } from '../../core/skeleton.js';

/**
 * The file store's index of user names by their skeletons (core/skeleton.ts):
 * which user holds the name every look-alike of it would be taken for. Kept
 * beside the login-key index, up to date with the store's own writes and
 * built again with it.
 */
export class NameSkeletons {
  private readonly holders = new Map<string, string>();
  /**
   * Users whose names already looked alike when the index was built (written
   * by hand, or before look-alikes were refused): both keep signing in, the
   * first keeps the skeleton, and an operator is told (openFileStore).
   */
  readonly lookalikes: string[] = [];

  /** At a build: the first user of a skeleton holds it, a later one is reported. */
  claim(name: string, id: string): void {
    const skeleton = nameSkeleton(name);
    const holder = this.holders.get(skeleton);
    if (holder === undefined) this.holders.set(skeleton, id);
    else if (holder !== id) this.lookalikes.push(`"${id}" looks like "${holder}"`);
  }

  /** The user whose name `name` would be taken for, if any. */
  holder(name: string): string | undefined {
    return this.holders.get(nameSkeleton(name));
  }

  set(name: string, id: string): void {
    this.holders.set(nameSkeleton(name), id);
  }

  /** Takes out the name's skeleton where `id` holds it. */
  delete(name: string, id: string): void {
    const skeleton = nameSkeleton(name);
    if (this.holders.get(skeleton) === id) this.holders.delete(skeleton);
  }
}
