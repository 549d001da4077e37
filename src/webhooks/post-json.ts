import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolvePublicAddress } from './destination-guard.js';

export interface PostOptions {
  /** Deadline of the whole attempt: DNS, connect, send, response headers and body. */
  timeoutMs: number;
  allowPrivate: boolean;
}

/** At most this much of a response is read; the status is all a delivery needs. */
const RESPONSE_LIMIT = 65_536;

/** Rejects with `error()` once `signal` aborts, unless `work` settled first. */
function beforeDeadline<T>(work: Promise<T>, signal: AbortSignal, error: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const abort = () => reject(error());
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * POSTs a body and resolves with the response status. The destination is checked before
 * connecting, and the connection goes to the address that was checked (the DNS lookup is
 * pinned), so a name that re-resolves to an internal address between check and connect
 * cannot be used to reach it. At most 64 KiB of the response is read.
 *
 * One deadline covers everything: an idle timeout (http.request's `timeout`) restarts on every
 * byte, so a receiver sending one byte a second held a delivery, and its socket, for ever. At
 * the deadline the request is aborted and its socket destroyed. No connection is pooled: each
 * attempt has its own socket, closed when the attempt ends.
 */
export async function postJson(target: string, body: string, headers: Record<string, string>, { timeoutMs, allowPrivate }: PostOptions): Promise<number> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const late = () => new Error(`no complete response within ${timeoutMs} ms`);
  const url = new URL(target);
  await beforeDeadline(resolvePublicAddress(url, { allowPrivate }), deadline, late);
  const lookup: LookupFunction = (_hostname, options, callback) => {
    resolvePublicAddress(url, { allowPrivate }).then(
      ({ address, family }) => (options.all ? (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]) : callback(null, address, family)),
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => reject(deadline.aborted ? late() : error);
    const request = client.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup,
      agent: false,
      signal: deadline,
    });
    request.on('error', fail);
    request.on('response', (response) => {
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > RESPONSE_LIMIT) request.destroy();
      });
      response.on('error', () => undefined); // reported by 'close' below
      response.on('close', () => (response.complete || read > RESPONSE_LIMIT ? resolve(response.statusCode ?? 0) : fail(new Error('the response ended early'))));
    });
    request.end(body);
  });
}
