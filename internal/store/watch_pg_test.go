package store_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/obsandbox/sandbox/internal/keyring"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestOneListenerServesEveryStore: the stores a process opens on one
// server (its root and every tenant) listen through one connection, and
// each still learns of its own schema's changes made by another store —
// a second replica here — and only of those, also after a store beside it
// closed.
func TestOneListenerServesEveryStore(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	dsn, other := storetest.FreshSchema(t), storetest.FreshSchema(t)
	key := keyring.New() // the replicas' one key file
	open := func(dsn string) *store.Store { return storetest.OpenAt(t, dsn, store.Options{Key: key}) }
	a, b, c := open(dsn), open(dsn), open(other)
	if !store.SameHub(a, b) || !store.SameHub(a, c) {
		t.Fatal("stores of one server listen through more than one connection")
	}
	// Another user, password or option is another listener: a store
	// never listens through credentials other than its own.
	u, _ := url.Parse(storetest.FreshSchema(t))
	q := u.Query()
	q.Set("connect_timeout", "19")
	u.RawQuery = q.Encode()
	if store.SameHub(a, open(u.String())) {
		t.Error("a store of other connection options listens through the first store's connection")
	}
	seen := func(s *store.Store, key string) chan string {
		ch := make(chan string, 4)
		s.OnSetting(key, func(v string) {
			select { // never block the hub
			case ch <- v:
			default:
			}
		})
		return ch
	}
	atA, atC := seen(a, "k"), seen(c, "k")
	wait := func(ch chan string, want string) {
		t.Helper()
		select {
		case v := <-ch:
			if v != want {
				t.Fatalf("told %q, want %q", v, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("not told of %q within 5 s", want)
		}
	}
	if err := b.SetSetting(ctx, "k", "one"); err != nil {
		t.Fatal(err)
	}
	wait(atA, "one")
	c.Close() // a store beside a closes: a still hears
	if err := b.SetSetting(ctx, "k", "two"); err != nil {
		t.Fatal(err)
	}
	wait(atA, "two")
	select {
	case v := <-atC:
		t.Errorf("a store of another schema was told %q", v)
	default:
	}
}

// TestResetToTellsTheOtherReplicas: a reset through one store tells
// another on the same schema of every setting it wrote (one notice names
// them all), as SetSetting does of its one.
func TestResetToTellsTheOtherReplicas(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	ctx := context.Background()
	dsn := storetest.FreshSchema(t)
	o := store.Options{Key: keyring.New()} // the replicas' one key file
	a, b := storetest.OpenAt(t, dsn, o), storetest.OpenAt(t, dsn, o)
	told := make(chan string, 8)
	for _, k := range []string{"clock_offset", store.SettingReset} {
		a.OnSetting(k, func(v string) {
			select {
			case told <- k + "=" + v:
			default:
			}
		})
	}
	tpl := storetest.Template(t)
	if err := b.CopyBank(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	if err := b.ResetTo(ctx, tpl, map[string]string{"clock_offset": "0s", store.SettingReset: "r1"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"clock_offset=0s": true, store.SettingReset + "=r1": true}
	for len(want) > 0 {
		select {
		case v := <-told:
			if !want[v] {
				t.Fatalf("told %q; still waiting for %v", v, want)
			}
			delete(want, v)
		case <-time.After(5 * time.Second):
			t.Fatalf("not told of %v within 5 s of the reset", want)
		}
	}
}
