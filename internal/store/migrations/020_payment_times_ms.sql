-- A payment order's times are unix milliseconds (they were seconds): a
-- payment created at hh:mm:ss.92 must not step on at the next whole second.
-- due_at (014) is computed from process_at and settle_at and follows.
UPDATE payments SET created_at = created_at * 1000, status_at = status_at * 1000,
  process_at = process_at * 1000, settle_at = settle_at * 1000;
