/**
 * Identifiers of key-wrapping suites. A wrapped key names its suite, so a new suite (the hybrid
 * X25519 + ML-KEM-768 one that DESIGN.md section 3 aims for) can be added without breaking old
 * blobs, and an identity names the suite its encryption key is for.
 */
export const wrapSuites = {
  /** HPKE base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (RFC 9180). */
  x25519Aes256Gcm: 1,
  // 2 is reserved for X-Wing (X25519 + ML-KEM-768), HKDF-SHA256, AES-256-GCM.
} as const;
