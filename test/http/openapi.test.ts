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
