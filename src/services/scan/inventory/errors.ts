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
    super(printable(message), options);
  }
}

/**
 * Control characters written out as \xNN: messages quote paths from the image, and a path holding
 * terminal escapes must not reach an operator's terminal through `berth scan show`.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
