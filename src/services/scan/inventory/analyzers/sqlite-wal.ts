// rpm ≥ 4.16 keeps its database in SQLite, usually in WAL mode. An image built while the WAL had
// not been checkpointed carries committed packages only in `rpmdb.sqlite-wal`. sql.js reads a
// database from memory and knows nothing of the WAL, so the committed frames are copied onto the
// pages here (https://www.sqlite.org/fileformat.html#the_write_ahead_log), without temp files.

export function applyWal(db: Buffer, wal: Buffer | undefined, maxBytes: number): Buffer {
  let out = db;
  if (wal && wal.length >= 32) {
    const magic = wal.readUInt32BE(0);
    const pageSize = wal.readUInt32BE(8);
    const okPage = pageSize >= 512 && pageSize <= 65536 && (pageSize & (pageSize - 1)) === 0;
    if ((magic === 0x377f0682 || magic === 0x377f0683) && okPage) {
      const salt1 = wal.readUInt32BE(16);
      const salt2 = wal.readUInt32BE(20);
      const frames: { page: number; at: number }[] = [];
      let committed: { frames: number; pages: number } | undefined;
      for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
        // Frames left over from an earlier WAL generation carry other salts; they end the log.
        if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
        frames.push({ page: wal.readUInt32BE(at), at: at + 24 });
        const dbPages = wal.readUInt32BE(at + 4);
        if (dbPages) committed = { frames: frames.length, pages: dbPages };
      }
      if (committed && committed.pages * pageSize <= maxBytes) {
        out = Buffer.alloc(committed.pages * pageSize);
        db.copy(out, 0, 0, Math.min(db.length, out.length));
        for (const f of frames.slice(0, committed.frames)) {
          if (f.page >= 1 && f.page <= committed.pages) wal.copy(out, (f.page - 1) * pageSize, f.at, f.at + pageSize);
        }
      }
    }
  }
  // Bytes 18/19 = 2 mark WAL mode; an in-memory database must be opened as a rollback-journal one.
  if (out.length >= 100 && (out[18] === 2 || out[19] === 2)) {
    if (out === db) out = Buffer.from(db);
    out[18] = 1;
    out[19] = 1;
  }
  return out;
}
