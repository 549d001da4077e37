import { Hono } from 'hono';
import type { Generated } from 'kysely';
import type { Kernel } from '@rowguard/kernel';
import { tenantMiddleware, type TenantVariables } from '@rowguard/kernel/hono';
import { jwtTenant } from '@rowguard/kernel/jwt';
import { kyselyOn } from '@rowguard/kernel/kysely';

export interface DB {
  authors: { id: Generated<string>; tenant_id: Generated<string>; name: string };
  notes: { id: Generated<string>; tenant_id: Generated<string>; author_id: string; title: string; created_at: Generated<Date> };
}

/** A notes API: no query below names a tenant; the database keeps each tenant to its own rows. */
export function createApp({ kernel, jwtSecret }: { kernel: Kernel; jwtSecret: string }) {
  const tenantOfToken = jwtTenant({ secret: jwtSecret, issuer: 'example', audience: 'notes' });
  const app = new Hono<{ Variables: TenantVariables }>();
  app.use('/api/*', tenantMiddleware({ kernel, tenantOf: (c) => tenantOfToken(c.req.header('authorization')) }));

  app.get('/api/notes', async (c) => {
    const notes = await kyselyOn<DB>(c.var.tx)
      .selectFrom('notes')
      .innerJoin('authors', 'authors.id', 'notes.author_id')
      .select(['notes.id', 'notes.title', 'authors.name as author'])
      .orderBy('notes.title')
      .execute();
    return c.json(notes);
  });

  app.get('/api/notes/:id', async (c) => {
    const note = await kyselyOn<DB>(c.var.tx).selectFrom('notes').select(['id', 'title', 'author_id']).where('id', '=', c.req.param('id')).executeTakeFirst();
    return note ? c.json(note) : c.json({ error: 'not found' }, 404);
  });

  app.post('/api/notes', async (c) => {
    const { authorId, title } = await c.req.json<{ authorId: string; title: string }>();
    const note = await kyselyOn<DB>(c.var.tx).insertInto('notes').values({ author_id: authorId, title }).returning(['id', 'title']).executeTakeFirstOrThrow();
    // A check after the write: the 422 rolls the insert back.
    if (title.trim() === '') return c.json({ error: 'a note needs a title' }, 422);
    return c.json(note, 201);
  });

  app.onError((error, c) => {
    if ('getResponse' in error && typeof error.getResponse === 'function') return error.getResponse() as Response; // 401 from jwtTenant
    const code = (error as { code?: string }).code;
    if (code === '23503') return c.json({ error: 'no such author' }, 422); // including another tenant's
    if (code === '22P02') return c.json({ error: 'not found' }, 404); // an id that is not a UUID
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
