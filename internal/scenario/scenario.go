package scenario

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// What the PSU does at the bank.
const (
	PSUDeny         = "deny"          // the PSU refuses: error=access_denied, the consent Rejected
	PSUSCAFail      = "sca-fail"      // strong customer authentication fails
	PSUSCATimeout   = "sca-timeout"   // the PSU never completes authentication
	PSUSomeAccounts = "some-accounts" // the PSU selects only the first eligible account
)

// What happens to a payment.
const (
	PaymentInsufficientFunds  = "insufficient-funds"   // funds check says no; the payment is Rejected at once
	PaymentRejectAfterPending = "reject-after-pending" // Pending, then Rejected (the debit reversed)
	PaymentStuckPending       = "stuck-pending"        // Pending for ever
	PaymentDuplicateReference = "duplicate-reference"  // the submission is refused: UK.OBIE.Rules.DuplicateReference
	// A variable recurring payment is refused as if its consent's first
	// periodic limit were used up: UK.OBIE.Rules.FailsControlParameters.
	PaymentFailsControls = "fails-control-parameters"
)

// Scenario is one behaviour. Its effects combine: a scenario may add latency
// and answer 503, for example.
type Scenario struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`

	// Transport: applied to every request the scenario is chosen for whose
	// path starts with one of Paths (default: the resource APIs).
	Status     int      `json:"status,omitempty" yaml:"status,omitempty"`           // 429, 500, 502, 503 or 504: answered instead of the call
	RetryAfter int      `json:"retry_after,omitempty" yaml:"retry_after,omitempty"` // seconds, with Status
	Latency    Duration `json:"latency,omitempty" yaml:"latency,omitempty"`         // added before the answer
	Paths      []string `json:"paths,omitempty" yaml:"paths,omitempty"`             // path prefixes; default the resource APIs (ResourceAPIs)

	// Data: list endpoints answer at most PageSize items per page.
	PageSize int `json:"page_size,omitempty" yaml:"page_size,omitempty"`

	// The PSU at the bank, and the consent afterwards.
	PSU         string `json:"psu,omitempty" yaml:"psu,omitempty"`
	RevokeAfter int    `json:"revoke_after,omitempty" yaml:"revoke_after,omitempty"` // the PSU revokes after this many data calls

	// Payments.
	Payment string `json:"payment,omitempty" yaml:"payment,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in YAML and JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1.5s\"")
	}
	return d.parse(s)
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.parse(n.Value) }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %v", s, err)
	}
	*d = Duration(v)
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// MaxLatency bounds the added latency: a scenario slows a test down, it
// must not hang it.
const MaxLatency = 30 * time.Second

// Validate reports the first thing wrong with the scenario.
func (s *Scenario) Validate() error {
	switch {
	case !nameRE.MatchString(s.Name):
		return fmt.Errorf("name %q: lower-case letters, digits and dashes, at most 64", s.Name)
	case s.Status != 0 && !slices.Contains([]int{429, 500, 502, 503, 504}, s.Status):
		return fmt.Errorf("status %d: one of 429, 500, 502, 503, 504", s.Status)
	case s.RetryAfter < 0 || s.RetryAfter > 86400:
		return fmt.Errorf("retry_after %d: 0 to 86400 seconds", s.RetryAfter)
	case s.RetryAfter > 0 && s.Status == 0:
		return fmt.Errorf("retry_after needs a status")
	case s.Latency < 0 || time.Duration(s.Latency) > MaxLatency:
		return fmt.Errorf("latency %s: 0 to %s", time.Duration(s.Latency), MaxLatency)
	case s.PageSize < 0 || s.PageSize > 1000:
		return fmt.Errorf("page_size %d: 1 to 1000", s.PageSize)
	case s.PSU != "" && !slices.Contains([]string{PSUDeny, PSUSCAFail, PSUSCATimeout, PSUSomeAccounts}, s.PSU):
		return fmt.Errorf("psu %q: one of deny, sca-fail, sca-timeout, some-accounts", s.PSU)
	case s.RevokeAfter < 0:
		return fmt.Errorf("revoke_after %d: a count of data calls", s.RevokeAfter)
	case s.Payment != "" && !slices.Contains([]string{PaymentInsufficientFunds, PaymentRejectAfterPending, PaymentStuckPending, PaymentDuplicateReference, PaymentFailsControls}, s.Payment):
		return fmt.Errorf("payment %q: one of insufficient-funds, reject-after-pending, stuck-pending, duplicate-reference, fails-control-parameters", s.Payment)
	}
	for _, p := range s.Paths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("paths: %q must start with /", p)
		}
	}
	if s.Status == 0 && s.Latency == 0 && s.PageSize == 0 && s.PSU == "" && s.RevokeAfter == 0 && s.Payment == "" {
		return fmt.Errorf("scenario %s does nothing: give it status, latency, page_size, psu, revoke_after or payment", s.Name)
	}
	return nil
}

// ResourceAPIs are the path prefixes of the resource APIs, which transport
// scenarios act on by default: UK Open Banking and Berlin Group.
var ResourceAPIs = []string{"/open-banking/", "/psd2/"}

// Transport reports whether the scenario acts on the request itself
// (status or latency) for a request to path.
func (s *Scenario) Transport(path string) bool {
	if s.Status == 0 && s.Latency == 0 {
		return false
	}
	paths := s.Paths
	if len(paths) == 0 {
		paths = ResourceAPIs
	}
	for _, p := range paths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Lasting reports whether the scenario shapes what happens after the request
// that chose it (so a consent created under it keeps it).
func (s *Scenario) Lasting() bool {
	return s.PSU != "" || s.RevokeAfter > 0 || s.Payment != "" || s.PageSize > 0
}

// Catalogue is the scenarios and what is bound to them.
type Catalogue struct {
	Scenarios []Scenario `json:"scenarios" yaml:"scenarios"`
	Bindings  Bindings   `json:"bindings" yaml:"bindings"`
	Active    *Active    `json:"active,omitempty" yaml:"active,omitempty"`
}

// Bindings choose a scenario by the PSU or by the payment amount.
type Bindings struct {
	PSUs    map[string]string `json:"psus" yaml:"psus"`       // username -> scenario
	Amounts map[string]string `json:"amounts" yaml:"amounts"` // "0.66" -> scenario (the InstructedAmount, as sent)
}

// Active is the scenario an admin made apply to everyone.
type Active struct {
	Name      string `json:"name"`
	Remaining int    `json:"remaining,omitempty"` // requests it still shapes; 0: until it is cleared
}

var amountRE = regexp.MustCompile(`^\d{1,13}\.\d{1,5}$`)

// Validate checks every scenario and that every binding names one.
func (c *Catalogue) Validate() error {
	seen := map[string]bool{}
	for i := range c.Scenarios {
		s := &c.Scenarios[i]
		if err := s.Validate(); err != nil {
			return err
		}
		if seen[s.Name] {
			return fmt.Errorf("scenario %s is defined twice", s.Name)
		}
		seen[s.Name] = true
	}
	for psu, name := range c.Bindings.PSUs {
		if !seen[name] {
			return fmt.Errorf("bindings.psus.%s: no scenario %q", psu, name)
		}
	}
	for amt, name := range c.Bindings.Amounts {
		if !amountRE.MatchString(amt) {
			return fmt.Errorf("bindings.amounts: %q is not an amount such as 0.66", amt)
		}
		if !seen[name] {
			return fmt.Errorf("bindings.amounts.%s: no scenario %q", amt, name)
		}
	}
	if c.Active != nil && !seen[c.Active.Name] {
		return fmt.Errorf("active: no scenario %q", c.Active.Name)
	}
	return nil
}

// Parse reads a catalogue from YAML (or JSON, which is YAML), refusing
// unknown fields.
func Parse(b []byte) (*Catalogue, error) {
	var c Catalogue
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.normalise()
	return &c, nil
}

func (c *Catalogue) normalise() {
	if c.Bindings.PSUs == nil {
		c.Bindings.PSUs = map[string]string{}
	}
	if c.Bindings.Amounts == nil {
		c.Bindings.Amounts = map[string]string{}
	}
	sort.Slice(c.Scenarios, func(i, j int) bool { return c.Scenarios[i].Name < c.Scenarios[j].Name })
}

// Registry is the live catalogue: safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	c      Catalogue
	defs   []byte             // the catalogue it started from (Reset)
	save   func([]byte) error // persists the catalogue after a change
	byName map[string]*Scenario
}

// NewRegistry starts from the catalogue in defaults (YAML) or, when state is
// not empty, from a saved one (JSON); save persists every change.
func NewRegistry(defaults, state []byte, save func([]byte) error) (*Registry, error) {
	r := &Registry{defs: defaults, save: save}
	src := defaults
	if len(state) > 0 {
		src = state
	}
	c, err := Parse(src)
	if err != nil {
		return nil, fmt.Errorf("scenarios: %w", err)
	}
	r.set(*c)
	return r, nil
}

func (r *Registry) set(c Catalogue) {
	r.c = c
	r.byName = make(map[string]*Scenario, len(c.Scenarios))
	for i := range r.c.Scenarios {
		r.byName[r.c.Scenarios[i].Name] = &r.c.Scenarios[i]
	}
}

// Catalogue returns a copy of the catalogue.
func (r *Registry) Catalogue() Catalogue {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(r.c)
	var c Catalogue
	_ = json.Unmarshal(b, &c)
	return c
}

// Get returns the named scenario.
func (r *Registry) Get(name string) (Scenario, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byName[name]
	if !ok {
		return Scenario{}, false
	}
	return *s, true
}

// ForPSU returns the scenario bound to a PSU.
func (r *Registry) ForPSU(username string) (Scenario, bool) {
	r.mu.Lock()
	name, ok := r.c.Bindings.PSUs[strings.ToLower(username)]
	r.mu.Unlock()
	if !ok {
		return Scenario{}, false
	}
	return r.Get(name)
}

// ForAmount returns the scenario bound to a payment amount.
func (r *Registry) ForAmount(amount string) (Scenario, bool) {
	r.mu.Lock()
	name, ok := r.c.Bindings.Amounts[amount]
	r.mu.Unlock()
	if !ok {
		return Scenario{}, false
	}
	return r.Get(name)
}

// Active returns the scenario an admin made active, without using it up.
func (r *Registry) Active() (Scenario, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c.Active == nil {
		return Scenario{}, false
	}
	return *r.byName[r.c.Active.Name], true
}

// Use counts one request the active scenario shaped: one limited to a
// number of requests clears itself after the last.
func (r *Registry) Use(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.c.Active
	if a == nil || a.Name != name || a.Remaining == 0 {
		return
	}
	if a.Remaining--; a.Remaining == 0 {
		r.c.Active = nil
		_ = r.persist() // best effort: a restart at worst keeps it one request longer
	}
}

// change applies f to a copy of the catalogue, validates and persists it.
func (r *Registry) change(f func(c *Catalogue) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(r.c)
	if err != nil {
		return err
	}
	var c Catalogue
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	if err := f(&c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	c.normalise()
	r.set(c)
	return r.persist()
}

func (r *Registry) persist() error {
	if r.save == nil {
		return nil
	}
	b, err := json.Marshal(r.c)
	if err != nil {
		return err
	}
	return r.save(b)
}

// Put adds or replaces a scenario; it reports whether it was new.
func (r *Registry) Put(s Scenario) (created bool, err error) {
	err = r.change(func(c *Catalogue) error {
		i := slices.IndexFunc(c.Scenarios, func(x Scenario) bool { return x.Name == s.Name })
		created = i < 0
		if created {
			c.Scenarios = append(c.Scenarios, s)
		} else {
			c.Scenarios[i] = s
		}
		return nil
	})
	return created, err
}

// ErrInUse is returned when a scenario to delete is still bound or active.
type ErrInUse struct{ Name, By string }

func (e *ErrInUse) Error() string {
	return fmt.Sprintf("scenario %s is still used by %s", e.Name, e.By)
}

// ErrUnknown is returned for a scenario that is not in the catalogue.
type ErrUnknown struct{ Name string }

func (e *ErrUnknown) Error() string { return fmt.Sprintf("no scenario %q", e.Name) }

// Delete removes a scenario that nothing binds.
func (r *Registry) Delete(name string) error {
	return r.change(func(c *Catalogue) error {
		i := slices.IndexFunc(c.Scenarios, func(x Scenario) bool { return x.Name == name })
		if i < 0 {
			return &ErrUnknown{name}
		}
		for psu, n := range c.Bindings.PSUs {
			if n == name {
				return &ErrInUse{name, "PSU " + psu}
			}
		}
		for amt, n := range c.Bindings.Amounts {
			if n == name {
				return &ErrInUse{name, "amount " + amt}
			}
		}
		if c.Active != nil && c.Active.Name == name {
			return &ErrInUse{name, "the active scenario"}
		}
		c.Scenarios = slices.Delete(c.Scenarios, i, i+1)
		return nil
	})
}

// SetBindings replaces the bindings.
func (r *Registry) SetBindings(b Bindings) error {
	return r.change(func(c *Catalogue) error {
		lower := make(map[string]string, len(b.PSUs))
		for k, v := range b.PSUs {
			lower[strings.ToLower(k)] = v
		}
		c.Bindings = Bindings{PSUs: lower, Amounts: b.Amounts}
		return nil
	})
}

// Activate makes a scenario apply to every request (times > 0: to that many
// requests it acts on, then it clears itself).
func (r *Registry) Activate(name string, times int) error {
	return r.change(func(c *Catalogue) error {
		if !slices.ContainsFunc(c.Scenarios, func(x Scenario) bool { return x.Name == name }) {
			return &ErrUnknown{name}
		}
		if times < 0 {
			return fmt.Errorf("times %d: a count of requests, or 0 for until cleared", times)
		}
		c.Active = &Active{Name: name, Remaining: times}
		return nil
	})
}

// Deactivate clears the active scenario.
func (r *Registry) Deactivate() error {
	return r.change(func(c *Catalogue) error {
		c.Active = nil
		return nil
	})
}

// Load replaces the catalogue with a saved one (JSON); an empty state is the
// one it started from.
func (r *Registry) Load(state []byte) error {
	if len(state) == 0 {
		return r.Reset()
	}
	c, err := Parse(state)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(*c)
	return nil
}

// Reset puts the catalogue back to the one it started from.
func (r *Registry) Reset() error {
	c, err := Parse(r.defs)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(*c)
	return r.persist()
}
