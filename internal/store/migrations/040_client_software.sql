-- A registration looks up the software statement's software_id among the
-- clients (one software, one client): by this index, not by reading every
-- client's metadata, so a sandbox that a CI suite registers thousands of
-- clients with registers the next as fast as the first. The expression is
-- the lookup's own (SQLite uses an index on an expression only for that
-- expression).
CREATE INDEX clients_software ON clients(json_extract(metadata, '$.software_id'));
