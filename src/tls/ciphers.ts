/**
 * The default cipher list: AEAD suites only, forward secret (ECDHE), the TLS 1.3 suites first. Mozilla's
 * "intermediate" profile without the finite-field DHE suites (slow, and of little use to today's clients).
 * TLS 1.3 suites must be listed too: a list without any TLS_* name switches TLS 1.3 off in OpenSSL.
 */
export const MODERN_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
