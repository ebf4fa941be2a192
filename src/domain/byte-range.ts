/** A byte range of a blob, both ends inclusive (HTTP Range, RFC 9110 14.1.2). */
export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}
