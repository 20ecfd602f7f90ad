/** Anything that yields a value on demand, e.g. AWS credentials; vending code knows only this. */
export interface Provider<T> {
  get(): Promise<T>;
  /**
   * What get() would resolve with right now without doing any work (no fetch, no refresh due), else undefined. Lets
   * a server answer a request synchronously from memory (vend/imds/routes.ts); optional, get() is always correct.
   */
  peek?(): T | undefined;
}

/** A provider whose cached value can be dropped (the identity behind it changed). */
export interface RefreshableProvider<T> extends Provider<T> {
  invalidate(): void;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}
