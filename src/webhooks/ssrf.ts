/**
 * The SSRF guard (DESIGN §9): a webhook URL is a request the server makes on a caller's behalf, so
 * it must not reach the server's own network. The host is resolved (every address it has) and each
 * address checked against the loopback, private, link-local, shared (CGNAT), reserved and
 * cloud-metadata ranges — when the endpoint is created and again before every attempt — and the
 * attempt then connects to the address that was checked, so a DNS answer that changes between the
 * check and the connect (DNS rebinding) cannot redirect it.
 */
import { lookup as dnsLookup } from 'node:dns/promises'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { TidingsError } from '../core/errors.js'

/** Resolves a host name to every address it has. */
export type Resolver = (hostname: string) => Promise<readonly { address: string; family: number }[]>

/** Settings of the guard. */
export interface SsrfOptions {
  /** Allow every address, private ones included (`TIDINGS_WEBHOOK_ALLOW_PRIVATE=1`). @defaultValue false */
  allowPrivate?: boolean
  /**
   * Networks (`10.1.0.0/16`, `fd12::/64`), single addresses and host names allowed even though
   * they are private, for receivers inside your own network. @defaultValue none
   */
  allow?: readonly string[]
  /** DNS resolution. @defaultValue `dns.promises.lookup` with `all: true` */
  resolve?: Resolver
}

/** Where an attempt connects: the host name (for `Host` and TLS) and the checked address. */
export interface CheckedTarget {
  readonly url: URL
  readonly hostname: string
  readonly address: string
  readonly family: 4 | 6
}

type Family = 'ipv4' | 'ipv6'

/** Refused ranges, most specific first so that a message names the narrowest one. */
const REFUSED: readonly (readonly [string, number, Family, string])[] = [
  ['169.254.169.254', 32, 'ipv4', 'cloud metadata'],
  ['fd00:ec2::254', 128, 'ipv6', 'cloud metadata'],
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.0.0.0', 24, 'ipv4', 'reserved'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['198.18.0.0', 15, 'ipv4', 'reserved'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['100::', 64, 'ipv6', 'reserved'],
  ['fc00::', 7, 'ipv6', 'private'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['fec0::', 10, 'ipv6', 'private'],
  ['ff00::', 8, 'ipv6', 'multicast'],
]

const defaultResolve: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/** Checks webhook targets. */
export class TargetGuard {
  readonly #allowPrivate: boolean
  readonly #allowNets = new BlockList()
  readonly #allowHosts = new Set<string>()
  readonly #resolve: Resolver
  readonly #refused: { list: BlockList; reason: string }[]

  constructor(options: SsrfOptions = {}) {
    this.#allowPrivate = options.allowPrivate ?? false
    this.#resolve = options.resolve ?? defaultResolve
    for (const entry of options.allow ?? []) {
      const [net, bits] = entry.split('/')
      const family = isIP(net ?? '')
      if (family !== 0) {
        const max = family === 4 ? 32 : 128
        const prefix = bits === undefined ? max : Number(bits)
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) {
          throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `webhooks.ssrf.allow: ${JSON.stringify(entry)} is not a network` })
        }
        this.#allowNets.addSubnet(net!, prefix, family === 4 ? 'ipv4' : 'ipv6')
      } else if (/^[A-Za-z0-9.-]{1,253}$/.test(entry)) {
        this.#allowHosts.add(entry.toLowerCase())
      } else {
        throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `webhooks.ssrf.allow: ${JSON.stringify(entry)} is neither a network nor a host name` })
      }
    }
    this.#refused = REFUSED.map(([net, prefix, family, reason]) => {
      const list = new BlockList()
      list.addSubnet(net, prefix, family)
      return { list, reason }
    })
  }

  /**
   * Why `address` may not be a webhook target (`loopback`, `private`, `cloud metadata`…), or null
   * when it may. IPv4 addresses embedded in IPv6 ones (mapped, NAT64, 6to4) are checked as IPv4.
   */
  refusal(address: string): string | null {
    if (this.#allowPrivate) return null
    const family = isIP(address)
    if (family === 0) return 'not an IP address'
    const type: Family = family === 4 ? 'ipv4' : 'ipv6'
    if (this.#allowNets.check(address, type)) return null
    if (type === 'ipv6') {
      const embedded = embeddedIpv4(address)
      if (embedded !== null) return this.refusal(embedded)
    }
    for (const r of this.#refused) if (r.list.check(address, type)) return r.reason
    return null
  }

  /**
   * Resolves the URL's host and checks every address it has (one refused address refuses the
   * target: an attacker controls which one a client would pick). Throws
   * `TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN`; a host that does not resolve rejects with the DNS error.
   */
  async check(url: URL): Promise<CheckedTarget> {
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    const literal = isIP(hostname)
    const addresses = literal !== 0 ? [{ address: hostname, family: literal }] : await this.#resolve(hostname)
    if (addresses.length === 0) throw new Error(`${hostname} has no address`)
    const allowedHost = literal === 0 && this.#allowHosts.has(hostname.toLowerCase())
    for (const a of addresses) {
      const reason = allowedHost ? null : this.refusal(a.address)
      if (reason !== null) {
        const via = literal !== 0 ? '' : ` (${hostname} resolves to ${a.address})`
        throw new TidingsError('TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN', { detail: `${url.origin} is a ${reason} address${via}` })
      }
    }
    const first = addresses[0]!
    return { url, hostname, address: first.address, family: first.family === 6 ? 6 : 4 }
  }
}

/** A `lookup` for `http.request` that answers the checked address whatever the host name, so the socket goes where the guard looked. */
export function pinnedLookup(target: CheckedTarget): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all === true) callback(null, [{ address: target.address, family: target.family }])
    else callback(null, target.address, target.family)
  }) as unknown as LookupFunction
}

/** The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) IPv6 address. */
function embeddedIpv4(address: string): string | null {
  const words = expandIpv6(address)
  if (words === null) return null
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  const zero = (from: number, to: number): boolean => words.slice(from, to).every((w) => w === 0)
  if (zero(0, 5) && words[5] === 0xffff) return v4(words[6]!, words[7]!)
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4(words[6]!, words[7]!)
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!)
  return null
}

/** The eight 16-bit words of an IPv6 address, or null. */
function expandIpv6(address: string): number[] | null {
  let text = address.toLowerCase()
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail !== null) {
    const o = tail[1]!.split('.').map(Number)
    text = text.slice(0, -tail[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const a = head === '' ? [] : head.split(':')
  const b = rest === undefined || rest === '' ? [] : rest.split(':')
  const fill = rest === undefined ? 0 : 8 - a.length - b.length
  if (fill < 0) return null
  const words = [...a, ...Array<string>(fill).fill('0'), ...b].map((w) => parseInt(w, 16))
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null
}
