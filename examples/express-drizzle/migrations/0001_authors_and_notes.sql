-- The app's own tables, as they were before Rowguard.
create table authors (
  id uuid primary key default gen_random_uuid(),
  name text not null
);
create table notes (
  id uuid primary key default gen_random_uuid(),
  author_id uuid not null,
  title text not null,
  created_at timestamptz not null default now()
);
