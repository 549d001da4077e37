import { RowguardError } from '@rowguard/kernel';
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * IPv4 ranges a tenant's webhook must not reach unless private destinations are allowed:
 * every entry of the IANA IPv4 Special-Purpose Address Registry, plus multicast. Some of
 * them are globally reachable anycast services (AS112, AMT, PCP/TURN anycast), but none is a
 * place a webhook belongs, and one rule ("special-purpose is refused") is easier to trust.
 */
const IPV4_SPECIAL: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT (shared address space)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, including 169.254.169.254 (cloud metadata)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments (DS-Lite, NAT64 discovery, PCP/TURN anycast)
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.31.196.0', 24], // AS112-v4
  ['192.52.193.0', 24], // AMT
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['192.175.48.0', 24], // AS112 direct delegation
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including 255.255.255.255 (limited broadcast)
];

/**
 * IPv6 ranges refused outright: the IANA IPv6 Special-Purpose Address Registry, plus
 * site-local and multicast. The two forms that carry an IPv4 address a packet really goes to
 * (IPv4-mapped `::ffff:0:0/96` and NAT64 `64:ff9b::/96`) are not here: they are decoded and
 * judged by the IPv4 rules (see `embeddedIPv4`). Every other form embedding IPv4 is refused
 * whatever it embeds: IPv4-compatible and IPv4-translated addresses are deprecated, local-use
 * NAT64 places the IPv4 address where its operator chose (no fixed offset to decode), 6to4 is
 * deprecated (RFC 7526) and Teredo hides the client's address; none has a use as a webhook.
 */
const IPV6_SPECIAL: readonly (readonly [string, number])[] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['100:0:0:1::', 64], // dummy prefix
  ['2001::', 23], // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID 2001:10::/28, ORCHIDv2 2001:20::/28, …
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['2620:4f:8000::', 48], // AS112 direct delegation
  ['3fff::', 20], // documentation
  ['5f00::', 16], // SRv6 SIDs
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

// Two lists, one per family: a BlockList matches an IPv4 address against IPv6 rules as its
// mapped form (and the reverse), so `::/96` in the same list would also refuse every IPv4.
const ipv4Blocked = new BlockList();
for (const [network, prefix] of IPV4_SPECIAL) ipv4Blocked.addSubnet(network, prefix, 'ipv4');
const ipv6Blocked = new BlockList();
for (const [network, prefix] of IPV6_SPECIAL) ipv6Blocked.addSubnet(network, prefix, 'ipv6');
/** 2000::/3 is the only IPv6 space IANA allocates for global unicast; the rest is refused. */
const ipv6GlobalUnicast = new BlockList();
ipv6GlobalUnicast.addSubnet('2000::', 3, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (any spelling, dotted tail included). */
function ipv6Groups(address: string): number[] {
  // The WHATWG URL parser canonicalizes: lower case, hex only, one `::` at most.
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const [head, tail] = canonical.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The IPv4 address a packet to `groups` is delivered to, for the two forms where that is
 * well defined: IPv4-mapped (the socket speaks IPv4 to it) and the well-known NAT64 prefix
 * (a DNS64 resolver on an IPv6-only network hands these out for public IPv4-only hosts, and
 * the gateway forwards to the embedded address, so that address decides).
 */
function embeddedIPv4(groups: number[]): string | null {
  const mapped = groups.slice(0, 6).every((group, i) => group === (i === 5 ? 0xffff : 0));
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((group) => group === 0);
  if (!mapped && !nat64) return null;
  const [high, low] = [groups[6]!, groups[7]!];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/** Whether a webhook may be delivered to `address` (an IP literal) when private destinations are not allowed. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !ipv4Blocked.check(address, 'ipv4');
  if (family !== 6) return false;
  const groups = ipv6Groups(address);
  const ipv4 = embeddedIPv4(groups);
  if (ipv4) return isPublicAddress(ipv4);
  const canonical = groups.map((group) => group.toString(16)).join(':');
  return ipv6GlobalUnicast.check(canonical, 'ipv6') && !ipv6Blocked.check(canonical, 'ipv6');
}

export class DestinationError extends RowguardError {
  /**
   * `unresolved`: the name did not resolve (now); `timeout`: DNS did not answer in time;
   * `blocked`: it resolves somewhere internal. Messages name the host as given, never the
   * address it resolved to: that would map a tenant's view of the internal network.
   */
  constructor(
    message: string,
    readonly reason: 'scheme' | 'unresolved' | 'timeout' | 'blocked',
  ) {
    super('DESTINATION_NOT_ALLOWED', message);
    this.name = 'DestinationError';
  }
}

export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;

export interface ResolveOptions {
  /** Accept loopback, private and special-purpose addresses (development, tests). */
  allowPrivate: boolean;
  /** Longest wait for DNS before giving up with reason `timeout`. */
  timeoutMs?: number;
  /** Name resolution; default the system resolver (getaddrinfo, so /etc/hosts applies). */
  resolve?: Resolve;
}

const systemResolve: Resolve = (host) => dnsLookup(host, { all: true, verbatim: true });

/**
 * The resolution of `host`, or a `timeout` error after `timeoutMs`. getaddrinfo cannot be
 * cancelled: a lookup that hangs keeps its libuv thread until the system resolver gives up,
 * but the caller no longer waits for it.
 */
async function resolveWithin(host: string, resolve: Resolve, timeoutMs: number): Promise<{ address: string; family: number }[]> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DestinationError(`the host ${host} did not resolve within ${timeoutMs} ms`, 'timeout')), timeoutMs);
  });
  try {
    return await Promise.race([
      resolve(host).catch(() => {
        throw new DestinationError(`the host ${host} does not resolve`, 'unresolved');
      }),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves a webhook host and refuses it when any of its addresses is not public (SSRF). Runs
 * at registration and again at delivery, where the connection uses the checked address.
 *
 * @example
 * const { address, family } = await resolvePublicAddress(new URL(hook.url), { allowPrivate: false, timeoutMs: 2000 });
 */
export async function resolvePublicAddress(url: URL, { allowPrivate, timeoutMs = 2000, resolve = systemResolve }: ResolveOptions): Promise<{ address: string; family: number }> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DestinationError('only http and https URLs are allowed', 'scheme');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolveWithin(host, resolve, timeoutMs);
  if (addresses.length === 0) throw new DestinationError(`the host ${host} does not resolve`, 'unresolved');
  if (!allowPrivate && !addresses.every(({ address }) => isPublicAddress(address))) {
    throw new DestinationError(`the destination is not allowed: ${host} resolves to a non-public address`, 'blocked');
  }
  return addresses[0]!;
}
