-- Which version of the UK standard a consent was created through: v3.1
-- account-access and funds-confirmation consents carry over to v4.0 (same
-- ConsentId and tokens); payment consents stay with their version; v4.0
-- consents are not used through v3.1.

ALTER TABLE consents ADD COLUMN api_version TEXT NOT NULL DEFAULT '3.1';
