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
// TPP's client-credentials token).
func (r *runner) checkPaymentsRemote(ctx context.Context, w *world) error {
	return r.readBack(func(pid string) (string, error) {
		var got struct{ Data struct{ ConsentId string } }
		err := w.c.Call(ctx, http.MethodGet, pis+"/domestic-payments/"+url.PathEscape(pid), "", w.ccPayments, nil, http.StatusOK, &got)
		var se *tpp.StatusError
		// An unknown resource is 400 UK.OBIE.Resource.NotFound (the
		// standard's error for an id it does not hold).
		if errors.As(err, &se) && (se.Status == http.StatusNotFound ||
			se.Status == http.StatusBadRequest && strings.Contains(string(se.Body), "UK.OBIE.Resource.NotFound")) {
			return "", errNotStored
		}
		return got.Data.ConsentId, err
	})
}

// errNotStored is a payment the sandbox does not hold.
var errNotStored = errors.New("not stored")

// readBack counts the payments answered 201 against what read says of each
// (the consent it belongs to, errNotStored, or why it could not be read): a
// payment not stored is lost, one of another consent is an error of the
// sandbox's, an id answered twice is a duplicate, one that could not be read
// is unverified. A second payment stored for one consent, or one stored
// without a 201 (an answer lost on the wire), cannot be seen this way.
func (r *runner) readBack(read func(paymentID string) (string, error)) error {
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
		if out.id == "" {
			pc.Unverified++
			continue
		}
		if seen[out.id] {
			pc.Duplicated++
			continue
		}
		seen[out.id] = true
		consent, err := read(out.id)
		switch {
		case err == nil && consent == id:
			pc.Stored++
		case err == nil:
			return fmt.Errorf("bench: payment %s, answered for consent %s, belongs to consent %q", out.id, id, consent)
		case errors.Is(err, errNotStored):
			r.logf("payment %s (consent %s) answered 201 but is not stored", out.id, id)
			pc.Lost++
		default:
			r.logf("payment %s (consent %s) could not be read back: %v", out.id, id, err)
			pc.Unverified++
		}
	}
	pc.Checked, pc.ThroughAPI = true, true
	return nil
}
