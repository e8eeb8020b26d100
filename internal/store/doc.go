// Package store owns every line of SQL in the sandbox. It keeps the bank, the
// clients, consents, tokens and payments in one SQLite file (modernc.org/sqlite,
// pure Go), applies the embedded migrations in order, and translates driver
// errors at its edge: callers see bank.ErrNotFound and bank.ErrConflict, never
// sql.ErrNoRows or a driver code.
//
// Connections are split the way WAL wants them: one writer connection
// (transactions start IMMEDIATE, so writers queue instead of failing on lock
// upgrade) and a pool of read-only readers that never block on it.
package store
