/** Anything that yields a value on demand, e.g. AWS credentials; vending code knows only this. */
export interface Provider<T> {
  get(): Promise<T>;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}
