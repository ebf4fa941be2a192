// Per-scan limits. Every one of them exists because a hostile or broken image could otherwise make
// a scan run forever or hold gigabytes; the defaults are far above what real images need.

export interface InventoryBudget {
  /** Tar entries in one layer. */
  maxEntriesPerLayer: number;
  /** Characters in one entry's path (or link target), after pax/GNU long names. */
  maxPathLength: number;
  /** Path components in one entry's path. */
  maxPathDepth: number;
  /** Uncompressed bytes of one layer (decompression bombs stop here). */
  maxLayerBytes: number;
  /** Size of one package database or metadata file (dpkg status, apk db, rpmdb, METADATA, package.json). */
  maxMetadataFileBytes: number;
  /** Size of one jar/war/ear held for reading; bigger archives are skipped with a warning. */
  maxArchiveBytes: number;
  /** Bytes of interesting files held in memory at once (the merged view plus the file being read). */
  maxRetainedBytes: number;
  /** Packages in one image. */
  maxPackages: number;
  /** Characters in a package's name, version, source, architecture or license (real ones are far shorter). */
  maxPackageFieldLength: number;
  /**
   * Characters of names, versions, sources, licenses and paths over all of an image's packages. The
   * stored inventory and both SBOMs grow with it (about 5 times over, in memory at once): 60 MiB of
   * long package names within the other limits made a scan hold about 1 GiB.
   */
  maxInventoryChars: number;
  /** Central-directory entries read from one archive, nested ones included. */
  maxZipEntries: number;
  /** Inflated size of one archive member (a nested jar or a metadata file). */
  maxZipEntryBytes: number;
  /** Inflated bytes read out of one top-level archive, nested ones included. */
  maxZipTotalBytes: number;
  /** Nesting of jars inside jars. */
  maxZipDepth: number;
  /** Bytes read after Go's build-info magic (module lists of large binaries are tens of KiB). */
  maxGoBuildInfoBytes: number;
  /** Window a zstd frame may ask for (zstd's own default limit is 128 MiB). */
  maxZstdWindowBytes: number;
  /** Wall-clock time for the whole image. */
  maxDurationMs: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_BUDGET: Readonly<InventoryBudget> = Object.freeze({
  maxEntriesPerLayer: 1_000_000,
  maxPathLength: 4096,
  maxPathDepth: 256,
  maxLayerBytes: 16 * 1024 * MiB,
  maxMetadataFileBytes: 64 * MiB,
  maxArchiveBytes: 128 * MiB,
  maxRetainedBytes: 256 * MiB,
  maxPackages: 200_000,
  maxPackageFieldLength: 1024,
  maxInventoryChars: 16 * MiB,
  maxZipEntries: 200_000,
  maxZipEntryBytes: 32 * MiB,
  maxZipTotalBytes: 256 * MiB,
  maxZipDepth: 4,
  maxGoBuildInfoBytes: 4 * MiB,
  maxZstdWindowBytes: 128 * MiB,
  maxDurationMs: 10 * 60 * 1000,
});
