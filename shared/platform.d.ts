// The few web-platform APIs that both browsers and Node provide as globals. shared/ is
// compiled without DOM and Node types, so anything else fails the build.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
declare var crypto: {
  getRandomValues<T extends Uint8Array>(array: T): T;
  /** WebCrypto (nats-page-key.ts types the part it uses). */
  readonly subtle?: unknown;
};
