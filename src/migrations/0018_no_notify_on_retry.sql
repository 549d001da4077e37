-- A retry by hand no longer NOTIFYs from a trigger: on Citus the trigger fires on the worker
-- that holds the row, where no relay listens, and a transaction that sent a NOTIFY cannot be
-- committed in two phases. The retry is a write through the API, which wakes the relay after
-- its response like every write (src/jobs/outbox-nudge.ts); the relay polls every 5 s for
-- changes made elsewhere.
drop trigger notify_outbox on webhook_deliveries;
drop function rowguard.notify_outbox();
