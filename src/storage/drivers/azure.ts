import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageRetryPolicyType,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import {
  isSafeKey,
  StorageError,
  StorageInvalidKeyError,
  StorageNotFoundError,
  StorageUnavailableError,
  type ReadRange,
  type StatResult,
  type StorageDriver,
  type Writer,
} from '../driver.js';

/** How to reach the account and which container holds Berth's objects (config storage.azure). */
export interface AzureOptions {
  connectionString?: string;
  accountName?: string;
  accountKey?: string;
  /** Blob service URL, e.g. http://127.0.0.1:10000/devstoreaccount1; default https://<accountName>.blob.core.windows.net. */
  endpoint?: string;
  /** A SAS token (with accountName or endpoint) or a whole SAS URL of the blob service. */
  sasToken?: string;
  container: string;
  createContainer?: boolean;
  /**
   * Blob service URL that clients reach, for signed read URLs, when it differs from the one
   * Berth uses (a private endpoint, a proxy); default: the same URL.
   */
  publicEndpoint?: string;
  /** Staged block size for writers; bounds a writer's memory. */
  blockSize?: number;
  /** Names per list request (Azure's maximum is 5000; tests use small pages). */
  listPageSize?: number;
  /** The retry budget of every operation (config storage.azure.retry; tests shorten it). */
  retry?: Partial<AzureRetry>;
}

/**
 * How long an operation may keep trying before the driver gives up with StorageUnavailableError
 * (answered 503 UNAVAILABLE): tries with exponential backoff on 5xx, resets and refused
 * connections, all within operationTimeoutMs measured until the storage answers (a long download
 * is not cut once its bytes flow). The defaults surface an outage in a few seconds (refused
 * connections: about 2 s) or at most operationTimeoutMs (a storage that accepts and never answers).
 */
export interface AzureRetry {
  maxTries: number;
  delayMs: number;
  maxDelayMs: number;
  operationTimeoutMs: number;
}

export const DEFAULT_RETRY: AzureRetry = { maxTries: 4, delayMs: 200, maxDelayMs: 2000, operationTimeoutMs: 30_000 };

export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;

/**
 * Azure Blob Storage driver: each key is one block blob named exactly like the key in one
 * container. Durability: a writer stages blocks as bytes arrive and its commit is one Put Block
 * List, which Azure applies atomically and acknowledges only once stored (three copies at least,
 * as the account's redundancy says); nothing a caller has seen committed is lost. Move is a
 * server-side copy, then a delete of the source.
 */
export class AzureDriver implements StorageDriver {
  readonly name = 'azure';
  readonly container: ContainerClient;
  private readonly blockSize: number;
  private readonly retry: AzureRetry;

  constructor(private readonly opts: AzureOptions) {
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.container = serviceClient(opts, this.retry).getContainerClient(opts.container);
    this.blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  }

  /**
   * Runs one storage operation (with the SDK's retries) under the operation deadline. The signal
   * is dropped once `run` resolves, so a download's body keeps flowing after its headers came.
   */
  private async bounded<T>(run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.retry.operationTimeoutMs);
    try {
      return await run(ctl.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Checks credentials and the container at startup (creating it when allowed), with messages naming the setting. */
  async init(): Promise<void> {
    try {
      if (await this.bounded((abortSignal) => this.container.exists({ abortSignal }))) return;
    } catch (e) {
      throw this.fail(`cannot open container "${this.opts.container}"`, e);
    }
    if (!this.opts.createContainer)
      throw new StorageError(
        this.name,
        `container "${this.opts.container}" does not exist (storage.azure.container); create it or set storage.azure.createContainer: true`,
      );
    try {
      await this.bounded((abortSignal) => this.container.createIfNotExists({ abortSignal }));
    } catch (e) {
      throw this.fail(`cannot create container "${this.opts.container}" (storage.azure.createContainer)`, e);
    }
  }

  private blob(key: string): BlockBlobClient {
    if (!isSafeKey(key)) throw new StorageInvalidKeyError(this.name, key);
    return this.container.getBlockBlobClient(key);
  }

  /**
   * A StorageError whose message says which setting to look at for auth failures and a missing
   * container; StorageUnavailableError when the storage could not be reached, timed out, or kept
   * failing with 5xx/429 after the retries (an outage, expected to pass).
   */
  private fail(what: string, e: unknown): StorageError {
    const status = statusOf(e);
    const code = codeOf(e);
    if ((e as Error)?.name === 'AbortError')
      return new StorageUnavailableError(
        this.name,
        `${what}: no answer within ${this.retry.operationTimeoutMs} ms (storage.azure.retry.operationTimeoutMs)`,
        { cause: e },
      );
    let hint: string;
    if (status === 403)
      hint = `: access denied (${code ?? 403}); check storage.azure.connectionString, storage.azure.accountName/accountKey or storage.azure.sasToken`;
    else if (code === 'ContainerNotFound')
      hint = `: container "${this.opts.container}" does not exist (storage.azure.container; storage.azure.createContainer: true creates it at startup)`;
    else if (status === undefined)
      hint = `: cannot reach ${this.container.url} (${(e as Error)?.message ?? String(e)}); check storage.azure.endpoint or the BlobEndpoint of storage.azure.connectionString`;
    else hint = `: ${status}${code ? ` ${code}` : ''}`;
    if (status === undefined || status >= 500 || status === 429 || status === 408)
      return new StorageUnavailableError(this.name, what + hint, { cause: e });
    return new StorageError(this.name, what + hint, { cause: e });
  }

  async stat(key: string): Promise<StatResult | null> {
    const blob = this.blob(key);
    try {
      const p = await this.bounded((abortSignal) => blob.getProperties({ abortSignal }));
      return { size: p.contentLength ?? 0, modifiedAt: p.lastModified ?? new Date() };
    } catch (e) {
      if (isBlobMissing(e)) return null;
      throw this.fail(`stat ${key} failed`, e);
    }
  }

  async read(key: string, range?: ReadRange): Promise<Readable> {
    const blob = this.blob(key);
    try {
      // maxRetryRequests resumes a body cut mid-stream from where it broke.
      const r = await this.bounded((abortSignal) =>
        range
          ? blob.download(range.start, range.end - range.start + 1, { maxRetryRequests: 5, abortSignal })
          : blob.download(0, undefined, { maxRetryRequests: 5, abortSignal }),
      );
      return (r.readableStreamBody as Readable | undefined) ?? Readable.from([]);
    } catch (e) {
      if (isBlobMissing(e)) throw new StorageNotFoundError(this.name, key);
      throw this.fail(`read ${key} failed`, e);
    }
  }

  async writer(key: string, opts: { offset?: number; durableName?: boolean } = {}): Promise<Writer> {
    const blob = this.blob(key);
    const offset = opts.offset ?? 0;
    const blockIds: string[] = [];
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let written = 0;
    let staged = false;
    const stage = async (data: Buffer) => {
      // One id format (a base64 UUID) for every block: Azure requires equal-length ids within a blob.
      const id = Buffer.from(randomUUID()).toString('base64');
      try {
        await this.bounded((abortSignal) => blob.stageBlock(id, data, data.length, { abortSignal }));
      } catch (e) {
        throw this.fail(`stage block of ${key} failed`, e);
      }
      blockIds.push(id);
      staged = true;
    };
    /** The first `n` pending bytes (all of them by default) as one buffer. */
    const take = (n = pendingBytes) => {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      const data = all.subarray(0, n);
      const rest = all.subarray(n);
      pending = rest.length ? [rest] : [];
      pendingBytes = rest.length;
      return data;
    };
    // Blocks of exactly blockSize (the last one shorter): a resume reads back at most one block.
    const append = async (chunk: Buffer) => {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= this.blockSize) await stage(take(this.blockSize));
    };

    // Blocks from earlier sessions that stay in the object; everything staged from here on follows them.
    if (offset > 0) await this.keepPrefix(key, blob, offset, blockIds, append);

    const stream = new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        written += chunk.length;
        append(chunk).then(() => cb(), cb);
      },
      final: (cb) => {
        // A small object written afresh is one Put Blob in commit(); otherwise the tail is one more block.
        if (pendingBytes === 0 || (offset === 0 && !staged)) return cb();
        stage(take()).then(() => cb(), cb);
      },
    });

    let done = false;
    return {
      stream,
      commit: async () => {
        if (!stream.writableFinished) {
          if (!stream.writableEnded) stream.end();
          await new Promise<void>((resolve, reject) => {
            stream.once('finish', resolve);
            stream.once('error', reject);
          });
        }
        done = true;
        try {
          if (offset === 0 && !staged) {
            const data = take();
            await this.bounded((abortSignal) => blob.upload(data, data.length, { abortSignal }));
          } else {
            await this.bounded((abortSignal) => blob.commitBlockList(blockIds, { abortSignal }));
          }
        } catch (e) {
          throw this.fail(`commit ${key} failed`, e);
        }
        return offset + written;
      },
      abort: async () => {
        if (done) return;
        done = true;
        // Staged but uncommitted blocks are not part of the object; Azure drops them after a week.
        if (!stream.destroyed)
          await new Promise<void>((resolve) => {
            stream.once('close', resolve);
            stream.destroy();
          });
      },
    };
  }

  /**
   * For a writer at `offset`: keeps the committed blocks that end at or before it (their ids go
   * into `blockIds`) and feeds the object's bytes between the last kept block and `offset` (the
   * front of a block the offset cuts, or all of an object written by one Put Blob) to `append`,
   * so they are staged again ahead of the new bytes. This is how an upload resumes on any node.
   */
  private async keepPrefix(
    key: string,
    blob: BlockBlobClient,
    offset: number,
    blockIds: string[],
    append: (chunk: Buffer) => Promise<void>,
  ): Promise<void> {
    let size: number;
    let blocks: { name: string; size: number }[];
    try {
      const [props, list] = await this.bounded((abortSignal) =>
        Promise.all([blob.getProperties({ abortSignal }), blob.getBlockList('committed', { abortSignal })]),
      );
      size = props.contentLength ?? 0;
      blocks = list.committedBlocks ?? [];
    } catch (e) {
      if (isBlobMissing(e)) throw new StorageError(this.name, `cannot resume ${key} at offset ${offset}: the object does not exist`);
      throw this.fail(`open ${key} failed`, e);
    }
    if (offset > size) throw new StorageError(this.name, `cannot resume ${key} at offset ${offset}: the object has only ${size} bytes`);
    let covered = 0;
    for (const b of blocks) {
      if (covered + b.size > offset) break;
      blockIds.push(b.name);
      covered += b.size;
    }
    if (covered === offset) return;
    let body: Readable;
    try {
      body = (await this.bounded((abortSignal) => blob.download(covered, offset - covered, { maxRetryRequests: 5, abortSignal })))
        .readableStreamBody as Readable;
    } catch (e) {
      throw this.fail(`read back ${key} to resume at ${offset} failed`, e);
    }
    for await (const c of body) await append(c as Buffer);
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.blob(from);
    const dst = this.blob(to);
    try {
      // Within one account the request's own credential authorizes the source; the copy is
      // server-side (usually complete at once) and replaces the destination atomically.
      const r = await this.bounded(async (abortSignal) => {
        const poller = await dst.beginCopyFromURL(src.url, { intervalInMs: 100, abortSignal });
        return poller.pollUntilDone();
      });
      if (r.copyStatus !== 'success') throw new Error(`copy ended ${r.copyStatus ?? 'unknown'}`);
    } catch (e) {
      if (isBlobMissing(e) || codeOf(e) === 'CannotVerifyCopySource') throw new StorageNotFoundError(this.name, from);
      throw this.fail(`move ${from} -> ${to} failed`, e);
    }
    await this.delete(from);
  }

  /** Whether signedReadUrl can sign: only with the account key (a SAS-only client cannot mint SAS). */
  get canSignReads(): boolean {
    return this.container.credential instanceof StorageSharedKeyCredential;
  }

  /**
   * A service SAS for this one blob (sr=b), read permission only, expiring after
   * expiresInSeconds, that makes the storage answer with Content-Type application/octet-stream.
   * The URL holds the signature, never the key; a changed signature, another blob's path or a
   * late use gets the storage's 403. Plain http is allowed only when the endpoint itself is http
   * (Azurite); Azure's endpoints get https only.
   */
  signedReadUrl(key: string, opts: { expiresInSeconds: number }): Promise<string | null> {
    // Signing is local (an HMAC with the key): no request to the storage.
    return Promise.resolve().then(() => this.signRead(key, opts.expiresInSeconds));
  }

  private signRead(key: string, expiresInSeconds: number): string | null {
    const blob = this.blob(key);
    const credential = this.container.credential;
    if (!(credential instanceof StorageSharedKeyCredential)) return null;
    // The blob's path ("/<container>/<key>", URL-encoded by the SDK) on the endpoint clients reach.
    const serviceUrl = this.container.url.slice(0, this.container.url.lastIndexOf('/'));
    const path = blob.url.slice(serviceUrl.length);
    const base = (this.opts.publicEndpoint || serviceUrl).replace(/\/+$/, '');
    const sas = generateBlobSASQueryParameters(
      {
        containerName: this.opts.container,
        blobName: key,
        permissions: BlobSASPermissions.from({ read: true }),
        // No start time: valid at once, whatever the skew between this node's clock and the storage's.
        expiresOn: new Date(Date.now() + expiresInSeconds * 1000),
        protocol: /^http:/i.test(base) ? SASProtocol.HttpsAndHttp : SASProtocol.Https,
        contentType: 'application/octet-stream',
      },
      credential,
    );
    return `${base}${path}?${sas.toString()}`;
  }

  async delete(key: string): Promise<void> {
    const blob = this.blob(key);
    try {
      await this.bounded((abortSignal) => blob.deleteIfExists({ abortSignal }));
    } catch (e) {
      throw this.fail(`delete ${key} failed`, e);
    }
  }

  async list(prefix: string, opts: { startAfter?: string; limit?: number } = {}): Promise<string[]> {
    const base = prefix.replace(/\/+$/, '');
    if (base && !isSafeKey(base)) throw new StorageInvalidKeyError(this.name, prefix);
    const limit = opts.limit ?? Infinity;
    const after = opts.startAfter;
    const out: string[] = [];
    if (limit <= 0) return out;
    const azurePrefix = base ? `${base}/` : '';
    // Azure lists names in byte order, from the start or from an opaque marker (Azurite has no
    // startFrom). A caller paging with startAfter = the last key it got (GC's sweep) resumes at
    // the page that held that key instead of rescanning the container from the start.
    let marker = after === undefined ? undefined : this.resumeAt.get(`${azurePrefix}\0${after}`);
    try {
      for (;;) {
        const page = (
          await this.bounded((abortSignal) =>
            this.container
              .listBlobsFlat({ prefix: azurePrefix, abortSignal })
              .byPage({ maxPageSize: this.opts.listPageSize ?? 5000, continuationToken: marker })
              .next(),
          )
        ).value as { segment: { blobItems: { name: string }[] }; continuationToken?: string } | undefined;
        if (!page) return out;
        for (const item of page.segment.blobItems) {
          if (after !== undefined && item.name <= after) continue;
          out.push(item.name);
          if (out.length >= limit) {
            this.rememberPage(`${azurePrefix}\0${item.name}`, marker);
            return out;
          }
        }
        if (!page.continuationToken) return out;
        marker = page.continuationToken;
      }
    } catch (e) {
      throw this.fail(`list ${prefix} failed`, e);
    }
  }

  /** prefix + last key returned -> the marker of the page that holds it (a few recent pagings). */
  private readonly resumeAt = new Map<string, string | undefined>();

  private rememberPage(key: string, marker: string | undefined): void {
    if (marker === undefined) return;
    this.resumeAt.set(key, marker);
    if (this.resumeAt.size > 64) this.resumeAt.delete(this.resumeAt.keys().next().value!);
  }
}

function serviceClient(o: AzureOptions, retry: AzureRetry): BlobServiceClient {
  const pipeline: StoragePipelineOptions = {
    // Exponential backoff on 5xx, resets and refused connections. tryTimeoutInMs is only the
    // service-side timeout of each try (the SDK sends it as ?timeout=): the client-side bound is
    // the operation deadline of AzureDriver.bounded.
    retryOptions: {
      retryPolicyType: StorageRetryPolicyType.EXPONENTIAL,
      maxTries: retry.maxTries,
      retryDelayInMs: retry.delayMs,
      maxRetryDelayInMs: retry.maxDelayMs,
      tryTimeoutInMs: Math.max(1000, retry.operationTimeoutMs),
    },
  };
  if (o.connectionString) return BlobServiceClient.fromConnectionString(o.connectionString, pipeline);
  const endpoint = (o.endpoint || (o.accountName ? `https://${o.accountName}.blob.core.windows.net` : '')).replace(/\/+$/, '');
  if (o.sasToken) {
    if (/^https?:\/\//i.test(o.sasToken)) return new BlobServiceClient(o.sasToken, new AnonymousCredential(), pipeline);
    if (!endpoint) throw new StorageError('azure', 'storage.azure.sasToken needs storage.azure.accountName or storage.azure.endpoint');
    return new BlobServiceClient(`${endpoint}?${o.sasToken.replace(/^\?/, '')}`, new AnonymousCredential(), pipeline);
  }
  if (o.accountName && o.accountKey)
    return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(o.accountName, o.accountKey), pipeline);
  throw new StorageError(
    'azure',
    'no credentials: set storage.azure.connectionString, storage.azure.accountName + storage.azure.accountKey, or storage.azure.sasToken',
  );
}

function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

function codeOf(e: unknown): string | undefined {
  const err = e as { code?: unknown; details?: { errorCode?: unknown } };
  const c = err?.details?.errorCode ?? err?.code;
  return typeof c === 'string' ? c : undefined;
}

/** 404 for the blob itself; a missing container is a deployment error, not a missing key. */
function isBlobMissing(e: unknown): boolean {
  return statusOf(e) === 404 && codeOf(e) !== 'ContainerNotFound';
}
