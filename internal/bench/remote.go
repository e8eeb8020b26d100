package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/obsandbox/sandbox/internal/tpp"
)

// remoteProc stands for a sandbox started elsewhere (--sandbox): it is
// measured through its address only.
func remoteProc(base string) *Proc {
	return &Proc{Name: TargetSandbox, Addr: strings.TrimPrefix(base, "http://"), exited: make(chan struct{})}
}

// checkRemote makes sure, before anything is measured, that the sandbox
// answers and takes the admin token (the payers' list and the Berlin Group
// QWAC are asked of it).
func (r *runner) checkRemote(ctx context.Context, sbx *Proc) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct {
		path, token, what string
	}{
		{"/healthz", "", "is it running, on plain http?"},
		{"/sandbox/psus", r.admin, "is this the admin token it was started with?"},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sbx.Addr+c.path, nil)
		if err != nil {
			return err
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("bench: the sandbox at %s: %w (%s)", r.o.Sandbox, err, c.what)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: the sandbox at %s answered GET %s with %s (%s)", r.o.Sandbox, c.path, resp.Status, c.what)
		}
	}
	r.logf("the sandbox at %s answers; its memory and CPU are not seen from here", r.o.Sandbox)
	return nil
}

// checkPaymentsRemote is checkPayments without the database: every 201's
// payment is read back through the API (GET /domestic-payments/{id}, the
// TPP's client-credentials token) and must belong to the consent it was
// made for; an id answered twice is a duplicate. A payment stored without a
// 201 (an answer lost on the wire) cannot be seen this way.
func (r *runner) checkPaymentsRemote(ctx context.Context, w *world) error {
	pc := &r.rep.Payments
	seen := map[string]bool{}
	for _, req := range r.paymentPool {
		id, _ := req.Context.(string)
		out, answered := r.paymentOutcomes[id]
		if !answered {
			continue
		}
		pc.Sent++
		if out.status != http.StatusCreated {
			continue
		}
		pc.Created++
		if seen[out.id] {
			pc.Duplicated++
			continue
		}
		seen[out.id] = true
		var got struct{ Data struct{ ConsentId string } }
		err := w.c.Call(ctx, http.MethodGet, pis+"/domestic-payments/"+url.PathEscape(out.id), "", w.ccPayments, nil, http.StatusOK, &got)
		var se *tpp.StatusError
		switch {
		case err == nil && got.Data.ConsentId == id:
			pc.Stored++
		case err == nil:
			return fmt.Errorf("bench: payment %s, answered for consent %s, belongs to consent %q", out.id, id, got.Data.ConsentId)
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			r.logf("payment %s (consent %s) answered 201 but is not found", out.id, id)
			pc.Lost++
		default:
			return fmt.Errorf("bench: reading back payment %s: %w", out.id, err)
		}
	}
	pc.Checked, pc.ThroughAPI = true, true
	return nil
}
