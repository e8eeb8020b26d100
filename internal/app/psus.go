package app

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"

	"github.com/obsandbox/sandbox/fixtures"
	"github.com/obsandbox/sandbox/internal/secret"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/seed"
)

// runtimeSortCode is the sort code of accounts added at run time that give
// none: a branch of the sandbox bank no seeded account uses.
const runtimeSortCode = "090131"

// AddPSU adds a PSU at run time (POST /sandbox/psus): validated against the
// sandbox clock (hand-written entries are history), given free account
// numbers where it names none, its history generated up to the bank's date
// (the seeded history's today) and written in one transaction.
func (a *App) AddPSU(ctx context.Context, p fixtures.Persona) (store.PSU, error) {
	now := a.Clock.Now()
	if err := p.Validate(now, false); err != nil {
		return store.PSU{}, err
	}
	p.Name = cmp.Or(p.Name, p.Username)
	p.Address.Country = cmp.Or(p.Address.Country, "GB")
	for i := range p.Accounts {
		acc := &p.Accounts[i]
		acc.Key = cmp.Or(acc.Key, fmt.Sprintf("account%d", i+1))
		if acc.SortCode != "" || fixtures.IsCardSubType(acc.SubType) {
			continue
		}
		num, err := a.freeNumber(ctx, p.Username+"\x00"+acc.Key)
		if err != nil {
			return store.PSU{}, err
		}
		acc.SortCode, acc.Number = runtimeSortCode, num
	}
	today, err := a.Store.BankDate(ctx, now)
	if err != nil {
		return store.PSU{}, err
	}
	h, err := seed.Persona(a.Fixtures, p, today)
	if err != nil {
		return store.PSU{}, &fixtures.ValidationError{Problems: []string{err.Error()}}
	}
	if h.PasswordHash, err = secret.HashPassword(p.Password); err != nil { // the bank keeps hashes only
		return store.PSU{}, err
	}
	if err := a.Store.AddHousehold(ctx, h, now); err != nil {
		return store.PSU{}, err
	}
	return a.Store.PSU(ctx, p.Username)
}

// freeNumber picks an account number no account holds under
// runtimeSortCode: the same for the same name while it is free.
func (a *App) freeNumber(ctx context.Context, name string) (string, error) {
	h := fnv.New32a()
	h.Write([]byte(name))
	n := h.Sum32() % 10_000_000
	for range 100 {
		num := fmt.Sprintf("3%07d", n)
		free, err := a.Store.AccountNumberFree(ctx, runtimeSortCode, num)
		if err != nil || free {
			return num, err
		}
		n = (n + 1) % 10_000_000
	}
	return "", fmt.Errorf("no free account number near %s", name)
}

// RemovePSU removes a PSU added at run time.
func (a *App) RemovePSU(ctx context.Context, username string) error {
	return a.Store.RemovePSU(ctx, username)
}
