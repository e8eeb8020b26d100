-- PSUs added at run time (POST /sandbox/psus), as opposed to the seed's:
-- only these may be removed (DELETE /sandbox/psus/{username}). Kept beside
-- psus, not in it, so that the seeded bank's tables stay as they were; a
-- load (seeding, reset) empties it with the bank.
CREATE TABLE runtime_psus (
  username   TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL          -- unix seconds, sandbox time
) WITHOUT ROWID;
