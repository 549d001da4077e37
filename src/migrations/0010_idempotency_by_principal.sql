-- A stored Idempotency-Key response belongs to the principal that made the request (a user
-- or an API key), not to the whole tenant: another member reusing the key string runs its own
-- request and never receives someone else's response.
--
-- Responses that carried a one-time secret (a new API key, a webhook signing secret) are not
-- stored at all, only the fact that the request succeeded (secret_withheld), so the table never
-- holds a usable credential. Rows stored before this migration were keyed by tenant only and
-- may hold such secrets: they are dropped (a retry of one of them runs as a new request).
delete from idempotency_keys;
alter table idempotency_keys drop constraint idempotency_keys_tenant_id_key_key;
alter table idempotency_keys add column principal text not null check (length(principal) between 1 and 300);
alter table idempotency_keys add column secret_withheld boolean not null default false;
alter table idempotency_keys add constraint idempotency_keys_tenant_id_principal_key_key unique (tenant_id, principal, key);
