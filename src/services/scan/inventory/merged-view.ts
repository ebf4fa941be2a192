// The image's file system as seen through all layers read so far, holding only the files an
// analyzer wants. Kept as a trie of path components so that a whiteout or a file replacing a
// directory removes a whole subtree in time proportional to what it removes, not to the view.

export interface TrieNode<T> {
  value?: T;
  children?: Map<string, TrieNode<T>>;
}

export class PathTrie<T> {
  private readonly root: TrieNode<T> = {};
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(path: string): T | undefined {
    return this.find(path)?.value;
  }

  set(path: string, value: T, onReplace?: (old: T) => void): void {
    let node = this.root;
    for (const part of path.split('/')) {
      node.children ??= new Map();
      let next = node.children.get(part);
      if (!next) node.children.set(part, (next = {}));
      node = next;
    }
    if (node.value === undefined) this.count++;
    else onReplace?.(node.value);
    node.value = value;
  }

  /** Removes what is at `path` (when `self`) and everything below it, calling `onRemove` for each value. */
  removeSubtree(path: string, self: boolean, onRemove: (value: T) => void): void {
    if (path === '') {
      this.clear(this.root, false, onRemove); // the root itself holds no file
      return;
    }
    const parts = path.split('/');
    const last = parts.pop()!;
    const parent = parts.length ? this.find(parts.join('/')) : this.root;
    const node = parent?.children?.get(last);
    if (!parent || !node) return;
    this.clear(node, self, onRemove);
    if (self) parent.children!.delete(last);
  }

  /** Removes just the value at `path`, leaving anything below it. */
  removeValue(path: string, onRemove: (value: T) => void): void {
    const node = this.find(path);
    if (node?.value === undefined) return;
    onRemove(node.value);
    node.value = undefined;
    this.count--;
  }

  *entries(): Generator<[string, T]> {
    const stack: [string, TrieNode<T>][] = [['', this.root]];
    while (stack.length) {
      const [path, node] = stack.pop()!;
      if (node.value !== undefined) yield [path, node.value];
      for (const [name, child] of node.children ?? []) stack.push([path ? `${path}/${name}` : name, child]);
    }
  }

  private find(path: string): TrieNode<T> | undefined {
    let node: TrieNode<T> | undefined = this.root;
    if (path === '') return node;
    for (const part of path.split('/')) {
      node = node.children?.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  private clear(node: TrieNode<T>, self: boolean, onRemove: (value: T) => void): void {
    const stack: TrieNode<T>[] = [];
    if (self) stack.push(node);
    else for (const child of node.children?.values() ?? []) stack.push(child);
    while (stack.length) {
      const n = stack.pop()!;
      if (n.value !== undefined) {
        onRemove(n.value);
        this.count--;
      }
      for (const child of n.children?.values() ?? []) stack.push(child);
    }
    if (self) node.value = undefined;
    node.children = undefined;
  }
}
