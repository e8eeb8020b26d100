-- The bank's reading of a payment consent's Initiation (amount, creditor,
-- debtor), beside the request as the TPP sent it.
ALTER TABLE consents ADD COLUMN initiation TEXT NOT NULL DEFAULT '';
