-- rowguard audit flags SECURITY DEFINER functions the app role can run over tenant tables
-- unless someone has reviewed them; this one is narrow by design.
comment on function rowguard.resolve_api_key(bytea) is
  'rowguard:reviewed: maps the hash of an API key to its tenant, key id and scopes, nothing else';
