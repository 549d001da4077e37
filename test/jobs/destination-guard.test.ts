import { describe, expect, it } from 'vitest';
import { DestinationError, resolvePublicAddress } from '../../src/webhooks/destination-guard.js';

/** The check for a URL with `host` in it: literal IPs need no DNS. */
const check = (host: string) => resolvePublicAddress(new URL(`http://${host.includes(':') ? `[${host}]` : host}/hook`), { allowPrivate: false });

const refuses = async (host: string): Promise<DestinationError> => {
  const error = await check(host).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `${host} should be refused`).toBeInstanceOf(DestinationError);
  return error as DestinationError;
};

describe('special-purpose addresses are refused', () => {
  it.each([
    ['0.0.0.0/8 "this" network', '0.1.2.3'],
    ['10/8 private', '10.255.0.1'],
    ['100.64/10 shared address space', '100.127.255.254'],
    ['127/8 loopback', '127.0.0.2'],
    ['169.254/16 link-local (cloud metadata)', '169.254.169.254'],
    ['172.16/12 private', '172.31.255.1'],
    ['192.0.0.0/24 IETF protocol assignments', '192.0.0.9'],
    ['192.0.2.0/24 documentation', '192.0.2.1'],
    ['192.31.196.0/24 AS112-v4', '192.31.196.1'],
    ['192.52.193.0/24 AMT', '192.52.193.1'],
    ['192.88.99.0/24 6to4 relay anycast', '192.88.99.1'],
    ['192.168/16 private', '192.168.0.1'],
    ['192.175.48.0/24 AS112 direct delegation', '192.175.48.1'],
    ['198.18/15 benchmarking', '198.19.0.1'],
    ['198.51.100.0/24 documentation', '198.51.100.7'],
    ['203.0.113.0/24 documentation', '203.0.113.9'],
    ['224/4 multicast', '239.255.255.250'],
    ['240/4 reserved', '240.0.0.1'],
    ['255.255.255.255 broadcast', '255.255.255.255'],
    ['::/128 unspecified', '::'],
    ['::1 loopback', '::1'],
    ['::1 loopback, spelled out', '0:0:0:0:0:0:0:1'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
    ['IPv4-mapped private, hex', '::ffff:a00:1'],
    ['IPv4-compatible (deprecated) private', '::10.0.0.1'],
    ['IPv4-compatible (deprecated) public', '::93.184.215.14'],
    ['IPv4-translated private', '::ffff:0:10.0.0.1'],
    ['IPv4-translated public', '::ffff:0:93.184.215.14'],
    ['NAT64 64:ff9b::/96 embedding loopback', '64:ff9b::127.0.0.1'],
    ['NAT64 64:ff9b::/96 embedding metadata', '64:ff9b::a9fe:a9fe'],
    ['local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::5db8:d70e'],
    ['100::/64 discard-only', '100::1'],
    ['2001::/32 Teredo', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
    ['2001:2::/48 benchmarking', '2001:2::1'],
    ['2001:10::/28 ORCHID', '2001:10::1'],
    ['2001:20::/28 ORCHIDv2', '2001:20::1'],
    ['2001::/23 elsewhere', '2001:1ff::1'],
    ['2001:db8::/32 documentation', '2001:db8::1'],
    ['2002::/16 6to4 embedding private', '2002:a00:1::1'],
    ['2002::/16 6to4 embedding public', '2002:5db8:d70e::1'],
    ['3fff::/20 documentation', '3fff:fff::1'],
    ['5f00::/16 SRv6', '5f00::1'],
    ['fc00::/7 unique local', 'fd12:3456::1'],
    ['fe80::/10 link-local', 'fe80::1'],
    ['fec0::/10 site-local', 'fec0::1'],
    ['ff00::/8 multicast', 'ff02::1'],
    ['outside 2000::/3 (unallocated)', '4000::1'],
  ])('%s (%s)', async (_label, host) => {
    const error = await refuses(host);
    expect(error.reason).toBe('blocked');
    expect(error.code).toBe('DESTINATION_NOT_ALLOWED');
  });

  it.each(['0177.0.0.1', '0x7f.1', '2130706433', '127.1'])('refuses %s, an odd spelling the URL parser turns into an internal IPv4 address', async (host) => {
    expect((await refuses(host)).reason).toBe('blocked');
  });
});

describe('public addresses pass', () => {
  it.each(['93.184.215.14', '1.1.1.1', '8.8.8.8', '100.128.0.1', '172.32.0.1', '198.20.0.1', '223.255.255.254', '2606:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:93.184.215.14', '64:ff9b::93.184.215.14', '2001:200::1'])(
    '%s',
    async (host) => {
      const { address } = await check(host);
      expect(address).toBe(host.includes(':') ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host);
    },
  );

  it('everything passes when private destinations are allowed', async () => {
    await expect(resolvePublicAddress(new URL('http://127.0.0.1:8080/hook'), { allowPrivate: true })).resolves.toEqual({ address: '127.0.0.1', family: 4 });
  });
});

describe('messages', () => {
  it('name the host that was given, never the internal address it resolves to', async () => {
    const error = await refuses('localhost');
    expect(error.reason).toBe('blocked');
    expect(error.message).toBe('the destination is not allowed: localhost resolves to a non-public address');
    expect(error.message).not.toMatch(/127\.0\.0\.1|::1/);
  });

  it('of a literal address say the same', async () => {
    expect((await refuses('10.1.2.3')).message).toBe('the destination is not allowed: 10.1.2.3 resolves to a non-public address');
  });
});

describe('DNS', () => {
  it('gives up after timeoutMs with reason timeout', async () => {
    const never = () => new Promise<never>(() => {});
    const started = Date.now();
    const error = await resolvePublicAddress(new URL('https://hooks.example.test/'), { allowPrivate: false, timeoutMs: 50, resolve: never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as DestinationError).reason).toBe('timeout');
    expect((error as DestinationError).message).toBe('the host hooks.example.test did not resolve within 50 ms');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a name that does not resolve is unresolved', async () => {
    const error = await resolvePublicAddress(new URL('https://no-such-host.invalid/'), { allowPrivate: false }).catch((e: unknown) => e);
    expect((error as DestinationError).reason).toBe('unresolved');
  });

  it('a name is refused when any one of its addresses is internal', async () => {
    const mixed = async () => [
      { address: '93.184.215.14', family: 4 },
      { address: 'fd00::1', family: 6 },
    ];
    const error = await resolvePublicAddress(new URL('https://hooks.example.test/'), { allowPrivate: false, resolve: mixed }).catch((e: unknown) => e);
    expect((error as DestinationError).reason).toBe('blocked');
    expect((error as DestinationError).message).not.toContain('fd00');
  });

  it('a name with only public addresses resolves to the first', async () => {
    const resolve = async () => [
      { address: '2606:4700::1111', family: 6 },
      { address: '93.184.215.14', family: 4 },
    ];
    await expect(resolvePublicAddress(new URL('https://hooks.example.test/'), { allowPrivate: false, resolve })).resolves.toEqual({ address: '2606:4700::1111', family: 6 });
  });
});
