import { createHmac } from 'node:crypto';

/** The key of a Standard Webhooks secret: the base64 after "whsec_". */
function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/**
 * The webhook-signature header of the Standard Webhooks spec: "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>", one per secret (the current one, and the previous during a rotation).
 */
export function webhookSignature(secrets: readonly string[], id: string, timestamp: number, body: string): string {
  return secrets.map((secret) => `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`).join(' ');
}
