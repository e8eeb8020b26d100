-- The audit trail is written on every request: the index by interaction id
-- (random UUIDs, so every insert dirtied a different page) cost more than
-- it saved. A query by interaction id reads the trail instead; by client it
-- still uses audit_by_client.

DROP INDEX IF EXISTS audit_by_interaction;
