import express, { type ErrorRequestHandler } from 'express';
import { eq } from 'drizzle-orm';
import type { Kernel } from '@rowguard/kernel';
import { drizzleOn } from '@rowguard/kernel/drizzle';
import { tenantMiddleware } from '@rowguard/kernel/express';
import { jwtTenant } from '@rowguard/kernel/jwt';
import { authors, notes } from './schema.js';

/** A notes API: no query below names a tenant; the database keeps each tenant to its own rows. */
export function createApp({ kernel, jwtSecret }: { kernel: Kernel; jwtSecret: string }) {
  const tenantOfToken = jwtTenant({ secret: jwtSecret, issuer: 'example', audience: 'notes' });
  const app = express();
  app.use(express.json());
  app.use('/api', tenantMiddleware({ kernel, tenantOf: (req) => tenantOfToken(req.headers.authorization) }));

  // Both tables have `id`; Drizzle gets rows as arrays, so each lands in its own field.
  app.get('/api/notes', async (_req, res) => {
    const rows = await drizzleOn(res.locals.tx).select().from(notes).innerJoin(authors, eq(notes.authorId, authors.id)).orderBy(notes.title);
    res.json(rows.map(({ notes: note, authors: author }) => ({ id: note.id, title: note.title, authorId: author.id, author: author.name })));
  });

  app.post('/api/notes', async (req, res) => {
    const { authorId, title } = req.body as { authorId: string; title: string };
    const [note] = await drizzleOn(res.locals.tx).insert(notes).values({ authorId, title }).returning({ id: notes.id, title: notes.title });
    // A check after the write: the 422 rolls the insert back.
    if (title.trim() === '') return void res.status(422).json({ error: 'a note needs a title' });
    res.status(201).json(note);
  });

  const errors: ErrorRequestHandler = (error, _req, res, _next) => {
    const code = (error as { cause?: { code?: string }; code?: string }).cause?.code ?? (error as { code?: string }).code;
    if ((error as { status?: number }).status === 401) return void res.status(401).json({ error: (error as Error).message });
    if (code === '23503') return void res.status(422).json({ error: 'no such author' }); // including another tenant's
    res.status(500).json({ error: 'internal error' });
  };
  app.use(errors);
  return app;
}
