-- Berlin Group NextGenPSD2: the authorisation sub-resources of consents,
-- payments, payment cancellations and signing baskets (one SCA routine
-- each), and the accesses counted against a consent's frequencyPerDay.
-- Times are sandbox-clock unix milliseconds.
CREATE TABLE bg_authorisations (
  authorisation_id TEXT PRIMARY KEY,
  kind             TEXT NOT NULL,            -- consent | payment | cancellation | basket
  resource_id      TEXT NOT NULL,            -- consents.consent_id of the consent, payment or basket
  client_id        TEXT NOT NULL,            -- the TPP's organisation identifier
  approach         TEXT NOT NULL,            -- REDIRECT | DECOUPLED | EMBEDDED
  sca_status       TEXT NOT NULL,
  psu              TEXT NOT NULL DEFAULT '',
  method           TEXT NOT NULL DEFAULT '',
  failures         INTEGER NOT NULL DEFAULT 0,
  handle           TEXT NOT NULL UNIQUE,     -- names it at the PSU's pages
  redirect_uri     TEXT NOT NULL DEFAULT '',
  nok_redirect_uri TEXT NOT NULL DEFAULT '',
  session          TEXT NOT NULL DEFAULT '', -- hash of the pages' login cookie
  csrf             TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  status_at        INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL
);
CREATE INDEX bg_authorisations_by_resource ON bg_authorisations(resource_id, kind);
CREATE INDEX bg_authorisations_pending ON bg_authorisations(psu, approach, sca_status);

CREATE TABLE bg_access (
  consent_id TEXT NOT NULL,
  resource   TEXT NOT NULL,  -- the path read
  period     TEXT NOT NULL,  -- the day (YYYY-MM-DD), or "once" for a one-off consent
  n          INTEGER NOT NULL,
  PRIMARY KEY (consent_id, resource, period)
);
