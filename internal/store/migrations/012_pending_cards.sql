-- Pending card entries book on the sandbox clock (CatchUp): the partial
-- index finds them among the bank's transactions. Load rebuilds it with the
-- bank.

CREATE INDEX IF NOT EXISTS transactions_pending_cards ON transactions(booked_at) WHERE status = 1 AND card_auth <> 0;
