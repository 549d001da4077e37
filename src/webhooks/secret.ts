import { randomBytes } from 'node:crypto';

/** A new signing secret for a webhook endpoint (Standard Webhooks' whsec_ form, 24 random bytes). */
export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
