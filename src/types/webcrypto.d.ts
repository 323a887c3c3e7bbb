// @hpke/core's declarations name the WebCrypto globals `CryptoKey` and `CryptoKeyPair`, which
// @types/node for Node 20 exposes only as `webcrypto.*` (without the DOM lib, which we do not
// want). These aliases give them their real types instead of an unresolved `any`.
import type { webcrypto } from 'node:crypto';

declare global {
  type CryptoKey = webcrypto.CryptoKey;
  type CryptoKeyPair = webcrypto.CryptoKeyPair;
}
