import { createHmac, timingSafeEqual } from 'node:crypto'

export const SIGNATURE_TOLERANCE_SECONDS = 300

export interface ParsedSignature {
  timestamp: number
  signatures: string[]
}

/** `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`; other schemes are ignored. */
export function parseSignatureHeader(header: string): ParsedSignature | undefined {
  let timestamp: number | undefined
  const signatures: string[] = []
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2)
    if (key === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value)
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/i.test(value))
      signatures.push(value.toLowerCase())
  }
  return timestamp !== undefined && signatures.length > 0 ? { timestamp, signatures } : undefined
}

export function sign(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')
}

/** A header for `rawBody`, as the sales service would send it (tests, scripts, README). */
export function signatureHeader(secret: string, rawBody: string, timestamp = nowSeconds()): string {
  return `t=${timestamp},v1=${sign(secret, timestamp, rawBody)}`
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/**
 * True when one of the `v1` signatures is the HMAC of `"<t>.<raw body>"` under one of the
 * secrets (several during a rotation) and `t` is within the tolerance of now, either way.
 */
export function verifySignature(
  header: string | undefined,
  rawBody: string | Buffer,
  secrets: readonly string[],
  now = nowSeconds(),
): boolean {
  if (!header || secrets.length === 0) return false
  const parsed = parseSignatureHeader(header)
  if (!parsed || Math.abs(now - parsed.timestamp) > SIGNATURE_TOLERANCE_SECONDS) return false
  let matched = false
  for (const secret of secrets) {
    const expected = Buffer.from(sign(secret, parsed.timestamp, rawBody), 'hex')
    for (const candidate of parsed.signatures) {
      // Every comparison runs, so timing says nothing about which one matched.
      if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) matched = true
    }
  }
  return matched
}
