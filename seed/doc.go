// Package seed builds the bank from the fixtures plus generated data, from one
// seed: the same seed (and seed date) gives a byte-identical bank on every
// machine. Each household (a PSU with its accounts) draws from its own random
// stream, so households are generated in parallel and written in order.
//
// The ledger is generated, not sprinkled: salaries, standing orders, Direct
// Debits, subscriptions, card spending, transfers between a PSU's own
// accounts, interest and card repayments are posted in time order against
// running balances, so balances always reconcile with the transactions and
// discretionary spending never takes an account past its overdraft.
package seed
