import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolvePublicAddress } from './destination-guard.js';

export interface PostOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

/**
 * POSTs a body and resolves with the response status. The destination is checked before
 * connecting, and the connection goes to the address that was checked (the DNS lookup is
 * pinned), so a name that re-resolves to an internal address between check and connect
 * cannot be used to reach it. At most 64 KiB of the response is read.
 */
export async function postJson(target: string, body: string, headers: Record<string, string>, { timeoutMs, allowPrivate }: PostOptions): Promise<number> {
  const url = new URL(target);
  await resolvePublicAddress(url, { allowPrivate });
  const lookup: LookupFunction = (_hostname, options, callback) => {
    resolvePublicAddress(url, { allowPrivate }).then(
      ({ address, family }) => (options.all ? (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]) : callback(null, address, family)),
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup,
      timeout: timeoutMs,
    });
    request.on('timeout', () => request.destroy(new Error(`no response within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.on('response', (response) => {
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > 65_536) response.destroy();
      });
      response.on('close', () => resolve(response.statusCode ?? 0));
    });
    request.end(body);
  });
}
