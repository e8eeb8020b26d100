-- Event notifications (UK OB v3.1.11 events API): each TPP's event
-- subscription, the outbox of events (one signed SET each, kept until the TPP
-- acknowledges it by push or by polling), and the push deliveries of those
-- SETs to the TPP's CallbackUrl with their retry state.
--
-- Events are captured by triggers in the same transaction as the change
-- they report, so no store mutation has to remember them and none is lost:
-- a status change of a consent or a payment order, a PSU's revocation, an
-- account's status change under an authorised account-access consent. A
-- trigger records an event only for a client with a subscription whose
-- filter takes its type. jti and txn are random UUIDs made here; the SET
-- itself is signed later by internal/events (the bank's keys are not in SQL).
-- Times are sandbox-clock unix milliseconds.

CREATE TABLE event_subscriptions (
  subscription_id TEXT PRIMARY KEY,
  client_id       TEXT NOT NULL UNIQUE,      -- at most one per TPP (the standard's rule)
  callback_url    TEXT NOT NULL DEFAULT '',  -- '' : aggregated polling only
  version         TEXT NOT NULL,
  event_types     TEXT NOT NULL DEFAULT '',  -- JSON array as the TPP sent it; '' when omitted
  filter          TEXT NOT NULL DEFAULT '[]',-- JSON array of event type URNs; '[]' takes every type
  hold            INTEGER NOT NULL DEFAULT 0,-- admin: new deliveries wait (held) until released
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE event_outbox (
  id        INTEGER PRIMARY KEY,
  jti       TEXT NOT NULL UNIQUE,
  txn       TEXT NOT NULL,
  client_id TEXT NOT NULL,                   -- the client owning the resource: the SET's aud
  type      TEXT NOT NULL,                   -- event type URN
  family    TEXT NOT NULL,                   -- consent | payment
  kind      TEXT NOT NULL,                   -- the consent kind or payment order kind
  rid       TEXT NOT NULL,                   -- ConsentId or payment order id
  reason    TEXT NOT NULL DEFAULT '',
  cause     TEXT NOT NULL DEFAULT '',        -- what happened, in words (admin listing)
  set_jwt   TEXT NOT NULL DEFAULT '',        -- the signed SET; '' until signed
  signed_at INTEGER NOT NULL DEFAULT 0,
  acked_at  INTEGER NOT NULL DEFAULT 0,      -- 0: awaiting (returned by polling)
  acked_by  TEXT NOT NULL DEFAULT '',        -- push | poll
  set_err   TEXT NOT NULL DEFAULT '',        -- the TPP's last negative acknowledgement (JSON)
  fresh     INTEGER NOT NULL DEFAULT 1       -- 1 until event_outbox_deliver has queued its push; rows copied
                                             -- from elsewhere (a snapshot's) arrive with 0 and queue nothing
);
CREATE INDEX event_outbox_unsigned ON event_outbox(id) WHERE set_jwt = '';
CREATE INDEX event_outbox_awaiting ON event_outbox(client_id, id) WHERE acked_at = 0;

CREATE TABLE event_deliveries (
  id                  INTEGER PRIMARY KEY,
  event               INTEGER NOT NULL REFERENCES event_outbox(id),
  client_id           TEXT NOT NULL,
  kind                TEXT NOT NULL DEFAULT 'original', -- original | duplicate (admin)
  state               TEXT NOT NULL DEFAULT 'pending',  -- pending | held | delivered | failed | cancelled
  ord                 INTEGER NOT NULL DEFAULT 0,       -- order among due deliveries (then id); release in reverse sets -id
  attempts            INTEGER NOT NULL DEFAULT 0,
  next_attempt_at     INTEGER NOT NULL DEFAULT 0,       -- due from; a claim moves it to the retry time (the lease)
  last_attempt_at     INTEGER NOT NULL DEFAULT 0,
  last_status         INTEGER NOT NULL DEFAULT 0,       -- HTTP status of the last attempt; 0: no answer
  last_error          TEXT NOT NULL DEFAULT '',
  last_interaction_id TEXT NOT NULL DEFAULT '',
  delivered_at        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX event_deliveries_due ON event_deliveries(client_id, ord, id) WHERE state = 'pending';
CREATE INDEX event_deliveries_by_event ON event_deliveries(event);

-- A consent's status changed (authorised, rejected, consumed, ...): a
-- resource-update for the consent.
CREATE TRIGGER event_consent_status AFTER UPDATE OF status ON consents
WHEN OLD.status <> NEW.status AND NEW.deleted = 0
BEGIN
  INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, cause)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         s.client_id, 'urn:uk:org:openbanking:events:resource-update', 'consent', NEW.kind, NEW.consent_id,
         'status ' || OLD.status || ' -> ' || NEW.status
  FROM event_subscriptions s
  WHERE s.client_id = NEW.client_id
    AND (s.filter = '[]' OR EXISTS (SELECT 1 FROM json_each(s.filter) WHERE value = 'urn:uk:org:openbanking:events:resource-update'));
END;

-- The PSU revoked the TPP's access at the bank (the status stays as it
-- was): consent-authorization-revoked.
CREATE TRIGGER event_consent_revoked AFTER UPDATE OF psu_revoked ON consents
WHEN OLD.psu_revoked = 0 AND NEW.psu_revoked = 1 AND NEW.deleted = 0
BEGIN
  INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, cause)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         s.client_id, 'urn:uk:org:openbanking:events:consent-authorization-revoked', 'consent', NEW.kind, NEW.consent_id,
         'access revoked by the PSU'
  FROM event_subscriptions s
  WHERE s.client_id = NEW.client_id
    AND (s.filter = '[]' OR EXISTS (SELECT 1 FROM json_each(s.filter) WHERE value = 'urn:uk:org:openbanking:events:consent-authorization-revoked'));
END;

-- A payment order's status changed (Pending -> AcceptedSettlementInProcess
-- -> AcceptedSettlementCompleted, InitiationPending -> InitiationCompleted |
-- InitiationFailed): a resource-update for the order.
CREATE TRIGGER event_payment_status AFTER UPDATE OF status ON payments
WHEN OLD.status <> NEW.status
BEGIN
  INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, cause)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         s.client_id, 'urn:uk:org:openbanking:events:resource-update', 'payment', NEW.kind, NEW.payment_id,
         'status ' || OLD.status || ' -> ' || NEW.status
  FROM event_subscriptions s
  WHERE s.client_id = NEW.client_id
    AND (s.filter = '[]' OR EXISTS (SELECT 1 FROM json_each(s.filter) WHERE value = 'urn:uk:org:openbanking:events:resource-update'));
END;

-- An account's status changed: every authorised account-access consent
-- that names it gets account-access-consent-linked-account-update (reason
-- UK.OBIE.AccountClosure when it left service).
CREATE TRIGGER event_account_status AFTER UPDATE OF status ON accounts
WHEN OLD.status <> NEW.status
BEGIN
  INSERT INTO event_outbox(jti, txn, client_id, type, family, kind, rid, reason, cause)
  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
           substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
         c.client_id, 'urn:uk:org:openbanking:events:account-access-consent-linked-account-update', 'consent', c.kind,
         c.consent_id, CASE WHEN NEW.status = 'Enabled' THEN '' ELSE 'UK.OBIE.AccountClosure' END,
         'account ' || NEW.account_id || ' ' || OLD.status || ' -> ' || NEW.status
  FROM consents c JOIN event_subscriptions s ON s.client_id = c.client_id
  WHERE c.kind = 'account-access' AND c.status = 'Authorised' AND c.deleted = 0 AND c.psu_revoked = 0
    AND EXISTS (SELECT 1 FROM json_each(c.accounts) WHERE value = NEW.account_id)
    AND (s.filter = '[]' OR EXISTS (SELECT 1 FROM json_each(s.filter)
      WHERE value = 'urn:uk:org:openbanking:events:account-access-consent-linked-account-update'));
END;

-- Every new event is queued for push delivery when its client's
-- subscription has a CallbackUrl (held while the admin holds the client).
CREATE TRIGGER event_outbox_deliver AFTER INSERT ON event_outbox
WHEN NEW.fresh = 1
BEGIN
  INSERT INTO event_deliveries(event, client_id, state)
  SELECT NEW.id, NEW.client_id, CASE WHEN s.hold <> 0 THEN 'held' ELSE 'pending' END
  FROM event_subscriptions s
  WHERE s.client_id = NEW.client_id AND s.callback_url <> '';
  UPDATE event_outbox SET fresh = 0 WHERE id = NEW.id;
END;
