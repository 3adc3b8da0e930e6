import { isAsciiName, lookalikeKey, nameSkeleton } from '../../core/skeleton.js';

/**
 * The file store's index of user names by their skeletons (core/skeleton.ts):
 * which user holds the name every look-alike of it would be taken for. Kept
 * beside the login-key index, up to date with the store's own writes and
 * built again with it.
 */
export class NameSkeletons {
  private readonly holders = new Map<string, string>();
  /**
   * Users by the lookalikeKey of their names, each with whether its name is wholly ASCII: ASCII
   * names share one (`Igor` and `lgor`), and a name that is not meets every one of them.
   */
  private readonly byLookalike = new Map<string, Map<string, boolean>>();
  /**
   * Users whose names already looked alike when the index was built (written
   * by hand, or before look-alikes were refused): both keep signing in, the
   * first keeps the skeleton, and an operator is told (openFileStore).
   */
  readonly lookalikes: string[] = [];

  /** At a build: the first user of a skeleton holds it, a later look-alike is reported. */
  claim(name: string, id: string): void {
    const holder = this.holder(name, id);
    if (holder !== undefined) this.lookalikes.push(`"${id}" looks like "${holder}"`);
    const skeleton = nameSkeleton(name);
    if (!this.holders.has(skeleton)) this.holders.set(skeleton, id);
    this.addLookalike(name, id);
  }

  /** A user other than `except` whose name `name` would be taken for, if any. */
  holder(name: string, except?: string): string | undefined {
    const holder = this.holders.get(nameSkeleton(name));
    if (holder !== undefined && holder !== except) return holder;
    const ascii = isAsciiName(name);
    for (const [other, otherAscii] of this.byLookalike.get(lookalikeKey(name)) ?? [])
      if (other !== except && !(ascii && otherAscii)) return other;
    return undefined;
  }

  set(name: string, id: string): void {
    this.holders.set(nameSkeleton(name), id);
    this.addLookalike(name, id);
  }

  /** Takes out the name's skeleton where `id` holds it. */
  delete(name: string, id: string): void {
    const skeleton = nameSkeleton(name);
    if (this.holders.get(skeleton) === id) this.holders.delete(skeleton);
    const key = lookalikeKey(name);
    const users = this.byLookalike.get(key);
    users?.delete(id);
    if (users?.size === 0) this.byLookalike.delete(key);
  }

  private addLookalike(name: string, id: string): void {
    const key = lookalikeKey(name);
    const users = this.byLookalike.get(key) ?? new Map<string, boolean>();
    users.set(id, isAsciiName(name));
    this.byLookalike.set(key, users);
  }
}
