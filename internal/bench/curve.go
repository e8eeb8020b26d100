package bench

import (
	"context"
	"fmt"
	"path/filepath"
)

// curve measures the sandbox on banks of several sizes: seeding speed, cold
// start, the data reads (same PSU, same account, same page: only the bank
// around them grows) and peak memory.
func (r *runner) curve(ctx context.Context) error {
	for _, psus := range r.o.Curve {
		db := r.o.DB
		if db == "" {
			db = filepath.Join(r.o.Out, fmt.Sprintf("curve-%d.db", psus))
		}
		pt, err := r.curvePoint(ctx, db, psus)
		if !r.o.KeepDB {
			removeDB(db)
		}
		if err != nil {
			return err
		}
		r.rep.Curve = append(r.rep.Curve, pt)
	}
	return nil
}

func (r *runner) curvePoint(ctx context.Context, db string, psus int) (CurvePoint, error) {
	var pt CurvePoint
	r.logf("curve: seeding %d PSUs", psus)
	var err error
	if pt.Seed, err = r.seedBank(ctx, db, psus); err != nil {
		return pt, err
	}
	r.logf("seeded: %s", pt.Seed.Line)
	sbx, starts, err := r.coldStarts(ctx, db, r.o.Starts, false)
	pt.ColdStarts = starts
	if err != nil {
		return pt, err
	}
	defer r.stopAll()
	w, err := r.prepare(ctx, "http://"+sbx.Addr, false)
	if err != nil {
		return pt, err
	}
	reqs := map[string]Request{RouteAccounts: w.accounts(), RouteBalances: w.balances(), RouteTransactions: w.transactions()}
	for _, rt := range []string{RouteAccounts, RouteBalances, RouteTransactions} {
		if !r.want(rt) {
			continue
		}
		row, err := r.measureFixed(ctx, sbx, rt, TargetSandbox, reqs[rt], r.o.Warmup)
		if err != nil {
			return pt, err
		}
		pt.Rows = append(pt.Rows, row)
	}
	pt.PeakRSS = sbx.PeakRSS()
	r.logf("curve point %d transactions done; sandbox peak RSS %s", pt.Seed.Transactions, mb(pt.PeakRSS))
	// Rows are kept per point, not in the suite's table.
	r.rep.Rows = nil
	return pt, nil
}
