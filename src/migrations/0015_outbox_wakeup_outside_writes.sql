-- The outbox no longer NOTIFYs from inside the write's transaction. PostgreSQL serializes the
-- commits of every transaction that sent a NOTIFY (PreCommit_Notify holds a database-wide lock
-- through the commit's WAL flush): measured on PostgreSQL 15 with 16 clients each committing
-- one insert, 2,565–2,651 transactions/s with the trigger against 5,141–6,676 without. The
-- service now wakes the relay after the response, with at most one NOTIFY in flight per
-- process (src/jobs/outbox-nudge.ts), and the relay still polls every 5 s for writes made
-- elsewhere. A retry by hand (webhook_deliveries.enqueued reset) keeps its trigger: it is rare.
drop trigger notify_outbox on outbox_events;
