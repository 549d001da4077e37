import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/http.js';

const context = useHarness();

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const reply = await context.h.call('GET', '/openapi.json');
    expect(reply.status).toBe(200);
    expect(reply.body.openapi).toBe('3.1.0');
    const result = await new Validator().validate(reply.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every API route the app serves', async () => {
    const doc = (await context.h.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)));
    const served = context.h.app.routes
      .filter((r) => /^\/(v1\/|admin\/|healthz$|readyz$)/.test(r.path) && r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path}`);
    expect(served.length).toBeGreaterThan(40);
    expect(served.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('declares the security of each operation and the problem responses', async () => {
    const doc = (await context.h.call('GET', '/openapi.json')).body;
    expect(doc.paths['/v1/projects'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/admin/stats'].get.security).toEqual([{ admin: [] }]);
    expect(doc.paths['/v1/projects/{id}'].patch.responses['412'].content['application/problem+json']).toBeDefined();
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
  });

  it('documents the id path parameter of every by-id route (read by pathId, not by zod)', async () => {
    const doc = (await context.h.call('GET', '/openapi.json')).body;
    for (const method of ['get', 'patch', 'delete']) {
      expect(doc.paths['/v1/projects/{id}'][method].parameters).toEqual([{ schema: { type: 'string', format: 'uuid' }, required: true, name: 'id', in: 'path' }]);
    }
    expect(doc.paths['/v1/projects/{id}'].patch.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ProjectUpdate' });
  });
});

describe('/docs', () => {
  it('serves the page and every asset it loads from this server', async () => {
    const page = await context.h.app.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      expect(asset.startsWith('/')).toBe(true); // nothing from a CDN
      const response = await context.h.app.request(asset);
      expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    expect((await context.h.app.request('/docs/assets/package.json')).status).toBe(404);
  });
});

describe('/v1/openapi.json', () => {
  it('is the tenant’s own document: a valid OpenAPI 3.1 document with a typed path for each of its record types', async () => {
    const a = await context.h.tenant('Northwind');
    const b = await context.h.tenant('Helios');
    const customer = {
      name: 'customer',
      json_schema: { $defs: { phone: { type: 'string', pattern: '^[0-9+ ]+$' } }, type: 'object', properties: { phone: { $ref: '#/$defs/phone' } } },
      fields: [{ name: 'email', kind: 'text', required: true, unique: true, case_insensitive: true }],
    };
    expect((await context.h.call('POST', '/v1/record-types', { token: a.token, body: customer })).status).toBe(201);
    expect((await context.h.call('POST', '/v1/record-types', { token: b.token, body: { name: 'secret_b_type', fields: [] } })).status).toBe(201);
    const reply = await context.h.call('GET', '/v1/openapi.json', { token: a.token });
    expect(reply.status).toBe(200);
    const result = await new Validator().validate(reply.body);
    expect(result.errors ?? []).toEqual([]);
    const doc = reply.body;
    expect(doc.paths['/v1/records/customer'].post.requestBody.content['application/json'].schema.properties.data).toEqual({ $ref: '#/components/schemas/CustomerData' });
    expect(doc.components.schemas.CustomerData.properties.phone.$ref).toBe('#/components/schemas/CustomerData/$defs/phone');
    expect(doc.components.schemas.CustomerData.allOf.at(-1).required).toEqual(['email']);
    expect(doc.paths['/v1/records/customer'].get.parameters.map((p: { name: string }) => p.name)).toContain('filter[email]');
    // Another tenant's types are not in it; nor is it served without a credential.
    expect(JSON.stringify(doc)).not.toContain('secret_b_type');
    expect((await context.h.call('GET', '/v1/openapi.json')).status).toBe(401);
  });
});
