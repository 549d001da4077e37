import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** Address ranges a tenant's webhook must not reach unless private destinations are allowed. */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, including 169.254.169.254 (cloud metadata)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['64:ff9b::', 96], // NAT64: embeds IPv4
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** Why an address may not be a webhook destination, or null when it may. */
export function blockedReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is checked as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blockedReason(mapped[1]!);
  return BLOCKED.check(address, family === 4 ? 'ipv4' : 'ipv6') ? `${address} is a loopback, private, link-local or reserved address` : null;
}

export class DestinationError extends Error {
  readonly code = 'DESTINATION_NOT_ALLOWED';

  /** `unresolved`: the name did not resolve (now); `blocked`: it resolves somewhere internal. */
  constructor(
    message: string,
    readonly reason: 'scheme' | 'unresolved' | 'blocked',
  ) {
    super(message);
  }
}

/**
 * Resolves a webhook host and refuses it when any of its addresses is internal (SSRF). Runs
 * at registration and again at delivery, where the connection uses the checked address.
 */
export async function resolvePublicAddress(url: URL, { allowPrivate }: { allowPrivate: boolean }): Promise<{ address: string; family: number }> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DestinationError('only http and https URLs are allowed', 'scheme');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string; family: number }[];
  try {
    addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true, verbatim: true });
  } catch {
    throw new DestinationError(`the host ${host} does not resolve`, 'unresolved');
  }
  if (addresses.length === 0) throw new DestinationError(`the host ${host} does not resolve`, 'unresolved');
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const reason = blockedReason(address);
      if (reason) throw new DestinationError(`the destination is not allowed: ${reason}`, 'blocked');
    }
  }
  return addresses[0]!;
}
