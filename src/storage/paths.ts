import type { Digest } from '../domain/digest.js';

// Storage layout (keys, relative to the driver's root):
//
//   blobs/
//     sha256/
//       ab/
//         abcdef0123...      one object per distinct content, shared by every repository and
//                            registry that links it (dedup); written once, never modified
//     sha512/...
//   uploads/
//     <uuid>                 bytes of an upload session in progress; moved into blobs/ when
//                            the session closes with a matching digest, deleted when abandoned
//
// Which repositories may read a blob is metadata (repository_blobs), not layout. Every key is
// built from a parsed digest or a server-generated UUID, never from client text.

export function blobKey(d: Digest): string {
  return `blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUploadId(id: string): boolean {
  return UUID.test(id);
}

export function uploadKey(id: string): string {
  if (!isUploadId(id)) throw new Error(`invalid upload id ${JSON.stringify(id)}`);
  return `uploads/${id}`;
}

//   tasks/
//     sources/<uuid>         a build context a client uploaded (berth build DIR), deleted when its run ends
//     logs/<run row id>      a finished run's log, deleted after the log retention
export function buildSourceKey(id: string): string {
  if (!isUploadId(id)) throw new Error(`invalid build source id ${JSON.stringify(id)}`);
  return `tasks/sources/${id}`;
}

export function runLogKey(runRowId: number): string {
  if (!Number.isSafeInteger(runRowId) || runRowId <= 0) throw new Error(`invalid run row id ${runRowId}`);
  return `tasks/logs/${runRowId}`;
}
