import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { registerResource } from '../../src/http/resource.js';
import { projects } from '../../src/http/routes/projects.js';
import { timestampAsJson } from '../../src/http/row-types.js';
import { useHarness } from '../helpers/http.js';

// What JSON.stringify writes for the value node-postgres makes of a timestamptz by default.
const viaDate = (text: string) => JSON.stringify(pg.types.getTypeParser(1184, 'text')(text));

describe('timestamps read as the JSON text the API sends', () => {
  it('give the JSON a Date would give, for every form PostgreSQL writes', () => {
    const texts = [
      '2026-12-05 05:52:00+00',
      ...['1', '12', '123', '1234', '12345', '123456', '000001', '999999', '5'].map((fraction) => `2026-12-05 05:52:07.${fraction}+00`),
      '0001-01-01 00:00:00+00',
      '0099-06-30 23:59:59.5+00',
      '9999-12-31 23:59:59.999999+00',
      '10000-01-01 00:00:00+00',
      '0044-03-15 12:00:00+00 BC',
      '2026-12-05 07:52:00.25+02',
      '2026-12-05 11:22:00+05:30',
      '2026-12-04 21:52:00.1-08',
      'infinity',
      '-infinity',
    ];
    for (const text of texts) expect([text, JSON.stringify(timestampAsJson(text))]).toEqual([text, viaDate(text)]);
    expect(typeof timestampAsJson('2026-12-05 05:52:07.123456+00')).toBe('string');
    expect(typeof timestampAsJson('2026-12-05 11:22:00+05:30')).toBe('string');
  });

  const context = useHarness();

  it('reach a resource’s hooks as the strings their schema types say, and its responses unchanged', async () => {
    const { db, h } = context;
    const seen: unknown[] = [];
    registerResource(h.app, {
      ...projects,
      path: '/v1/watched-projects',
      prepareUpdate: (body, current) => {
        seen.push(current.created_at, current.updated_at);
        return body;
      },
    });
    const acme = await h.tenant('Acme');
    const created = await h.call('POST', '/v1/watched-projects', { token: acme.token, body: { name: 'Watched' } });
    expect(created.status).toBe(201);
    const read = await h.call('GET', `/v1/watched-projects/${created.body.id}`, { token: acme.token });
    const patched = await h.call('PATCH', `/v1/watched-projects/${created.body.id}`, { token: acme.token, body: { name: 'Renamed' } });
    expect(patched.status).toBe(200);
    expect(seen).toEqual([read.body.created_at, read.body.updated_at]);
    expect(seen.map((value) => typeof value)).toEqual(['string', 'string']);

    const admin = await db.superuserClient();
    try {
      const { rows } = await admin.query(
        `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at from projects where id = $1`,
        [created.body.id],
      );
      expect([created.body.created_at, read.body.created_at, patched.body.created_at]).toEqual(Array(3).fill(rows[0].created_at));
    } finally {
      await admin.end();
    }
    const listed = await h.call('GET', '/v1/projects?limit=1', { token: acme.token });
    expect(listed.body.data[0]).toEqual(patched.body);
  });
});
