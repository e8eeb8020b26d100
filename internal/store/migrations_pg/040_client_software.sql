-- The SQLite migration's twin: software_id looked up by index.
CREATE INDEX clients_software ON clients (((metadata)::jsonb ->> 'software_id'));
