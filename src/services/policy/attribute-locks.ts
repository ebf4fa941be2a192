import { RegistryError } from '../../domain/errors.js';

// ACR's changeable attributes as locks (container-registry-image-lock.md): writeEnabled=false
// blocks updates and deletes, deleteEnabled=false blocks deletes only, readEnabled=false blocks
// pulls, listEnabled=false hides the item from listings. Tag and manifest attributes are separate
// (locking a tag does not lock its manifest). A denial is 403 DENIED naming the lock.

export type Attr = 'writeEnabled' | 'deleteEnabled' | 'readEnabled';

export function locked(what: string, attr: Attr, operation: string): RegistryError {
  return new RegistryError(
    'DENIED',
    `${what} is locked: ${attr} is false, so it cannot be ${operation}; change it with PATCH /acr/v1 or berth repository update`,
    {
      detail: { lock: attr },
    },
  );
}

/** May this thing be deleted? (writeEnabled=false or deleteEnabled=false forbid it.) */
export function assertDeletable(what: string, a: { write_enabled: number; delete_enabled: number }, operation = 'deleted'): void {
  if (!a.write_enabled) throw locked(what, 'writeEnabled', operation);
  if (!a.delete_enabled) throw locked(what, 'deleteEnabled', operation);
}

export function assertWritable(what: string, a: { write_enabled: number }, operation = 'updated'): void {
  if (!a.write_enabled) throw locked(what, 'writeEnabled', operation);
}
