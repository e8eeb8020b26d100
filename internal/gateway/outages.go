package gateway

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Outage is a dependency of the bank that is down and the APIs it takes
// with it: their paths answer 503 with Retry-After while it lasts (the
// standards' answer for a service temporarily unavailable), the rest of the
// bank keeps serving.
type Outage struct {
	Dependency string        `json:"dependency"`
	Reason     string        `json:"reason"`
	Prefixes   []string      `json:"affected_paths"`
	Since      time.Time     `json:"since"`
	RetryAfter time.Duration `json:"-"`
}

// Notice is something the bank tells every TPP on its status page.
type Notice struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Status is what the bank's status page says: the outages in force and the
// notices published. Safe for concurrent use.
type Status struct {
	mu      sync.RWMutex
	outages []Outage
	notices []Notice
}

// Down records an outage (replacing one of the same dependency).
func (s *Status) Down(o Outage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outages = slices.DeleteFunc(s.outages, func(x Outage) bool { return x.Dependency == o.Dependency })
	s.outages = append(s.outages, o)
}

// Up ends a dependency's outage.
func (s *Status) Up(dependency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outages = slices.DeleteFunc(s.outages, func(x Outage) bool { return x.Dependency == dependency })
}

// Affecting is the outage that takes path down, if any.
func (s *Status) Affecting(path string) (Outage, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, o := range s.outages {
		for _, p := range o.Prefixes {
			if strings.HasPrefix(path, p) {
				return o, true
			}
		}
	}
	return Outage{}, false
}

// Publish adds a notice (the newest 20 are kept).
func (s *Status) Publish(n Notice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notices = append(s.notices, n)
	if len(s.notices) > 20 {
		s.notices = s.notices[len(s.notices)-20:]
	}
}

// Now is the outages in force and the notices.
func (s *Status) Now() ([]Outage, []Notice) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.outages), slices.Clone(s.notices)
}
