// A scan that cannot finish says why in words a person can act on; the code lets callers group them.

export type InventoryErrorCode =
  | 'too-many-entries'
  | 'path-too-long'
  | 'layer-too-large'
  | 'file-too-large'
  | 'too-much-retained'
  | 'too-many-packages'
  | 'bad-package-database'
  | 'inventory-too-large'
  | 'deadline'
  | 'aborted'
  | 'unreadable-layer';

export class InventoryError extends Error {
  override readonly name = 'InventoryError';
  constructor(
    readonly code: InventoryErrorCode,
    message: string,
    /** The layer being read when it happened, when there was one. */
    readonly layer?: string,
    /** What failed underneath (a storage outage stays recognisable to the job's retry). */
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
