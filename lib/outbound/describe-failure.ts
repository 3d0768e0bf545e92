// Short, stable words for a delivery's `error`; the messages behind them name addresses and ports.
const BY_CODE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection closed before an answer',
  EPIPE: 'connection closed before an answer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host name',
  CERT_HAS_EXPIRED: 'TLS certificate has expired',
  CERT_NOT_YET_VALID: 'TLS certificate is not yet valid',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate is not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS certificate is not trusted',
}

export function describeFailure(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : null
  if (typeof code !== 'string') return 'request failed'
  if (code.startsWith('HPE_')) return 'invalid HTTP answer'
  return BY_CODE[code] ?? `request failed (${code})`
}
