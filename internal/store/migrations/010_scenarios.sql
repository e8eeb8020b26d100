-- Scenarios (internal/scenario): the scenario a consent was created under
-- keeps shaping its journey; a payment remembers the outcome its scenario
-- chose ('' normal, reject-after-pending, stuck-pending).

ALTER TABLE consents ADD COLUMN scenario TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
