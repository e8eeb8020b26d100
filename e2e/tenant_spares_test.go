package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/obsandbox/sandbox/internal/app"
	"github.com/obsandbox/sandbox/internal/store"
	"github.com/obsandbox/sandbox/internal/store/storetest"
)

// TestTenantSpares: with --tenant-spares on PostgreSQL a spare schema is
// made ahead, a new tenant takes it (its schema is the spare renamed: the
// same object), is a whole bank of its own with its own admin token, and
// another spare is made in its place; a spare of another bank (another
// seed or binary) is never taken and is dropped; a tenant made right after
// the spare was taken is made too.
func TestTenantSpares(t *testing.T) {
	t.Parallel()
	storetest.Postgres(t)
	s := start(t, realIssuer(), onPG(t), func(c *app.Config) { c.TenantSpares = 1 })
	db := s.app.Config.DB
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	root := store.SchemaOf(db)
	oid := func(name string) uint32 {
		var o uint32
		conn.QueryRow(ctx, "SELECT oid FROM pg_namespace WHERE nspname = $1", name).Scan(&o)
		return o
	}
	// A spare of another bank, as another seed or binary would leave.
	foreign := root + "_s_ffffffffffffffff_000000000000"
	if _, err := conn.Exec(ctx, `CREATE SCHEMA "`+foreign+`"`); err != nil {
		t.Fatal(err)
	}
	foreignOID := oid(foreign)
	// A spare a crash left half made an hour ago, and one another replica
	// began a second ago: the first is dropped, the second left alone.
	now := s.app.Clock.Wall()
	abandoned := fmt.Sprintf("%s_m_%08x_000000000000", root, now.Add(-time.Hour).Unix())
	making := fmt.Sprintf("%s_m_%08x_000000000000", root, now.Add(-time.Second).Unix())
	for _, sc := range []string{abandoned, making} {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA "`+sc+`"`); err != nil {
			t.Fatal(err)
		}
	}
	// spare waits for a spare schema other than not (and the foreign one)
	// and returns its OID.
	spare := func(not uint32) uint32 {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			var o uint32
			err := conn.QueryRow(ctx, "SELECT oid FROM pg_namespace WHERE starts_with(nspname, $1) AND oid <> $2 AND oid <> $3 LIMIT 1",
				root+"_s_", not, foreignOID).Scan(&o)
			if err == nil {
				return o
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no spare schema made within 90 s")
		return 0
	}

	first := spare(0)
	// The spare's pending card entries were timed from when it was made;
	// as if made long ago, so the tenant's restart shows.
	var spareName string
	if err := conn.QueryRow(ctx, "SELECT nspname FROM pg_namespace WHERE oid = $1", first).Scan(&spareName); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE "`+spareName+`".settings SET value = '0' WHERE key = $1`, store.SettingCardShift); err != nil {
		t.Fatal(err)
	}
	// The spare holds its first signing key: the tenant makes none on its path.
	var spareKID string
	if err := conn.QueryRow(ctx, `SELECT kid FROM "`+spareName+`".signing_keys WHERE retired_at = 0`).Scan(&spareKID); err != nil {
		t.Fatalf("the spare's signing key: %v", err)
	}
	var a newTenant
	r := s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-a"})
	expect(t, r, 201)
	r.JSON(t, &a)
	if got := oid(root + "_t_job_a"); got != first {
		t.Errorf("tenant job-a's schema is object %d, the spare was %d: the spare was not taken", got, first)
	}
	var kids []string
	rows, err := conn.Query(ctx, `SELECT kid FROM "`+root+`_t_job_a".signing_keys`)
	if err == nil {
		kids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(kids) != 1 || kids[0] != spareKID {
		t.Errorf("the tenant's signing keys %v (%v); want the spare's one, %s", kids, err, spareKID)
	}
	var shift int64
	if err := conn.QueryRow(ctx, `SELECT value::bigint FROM "`+root+`_t_job_a".settings WHERE key = $1`, store.SettingCardShift).Scan(&shift); err != nil {
		t.Fatal(err)
	}
	if want := s.app.Clock.Now().Unix() - s.app.Config.SeedDate.Unix(); shift < want-60 || shift > want {
		t.Errorf("the tenant's pending card entries are shifted %d s from the seed date, want %d (timed from when the tenant was made, not the spare)", shift, want)
	}
	psus := s.do(req{method: "GET", path: "/t/job-a/sandbox/psus", token: a.AdminToken})
	expect(t, psus, 200)
	if !strings.Contains(string(psus.Body), `"alice"`) {
		t.Errorf("the tenant made from a spare has no alice: %s", psus.Body)
	}
	expect(t, s.do(req{method: "GET", path: "/sandbox/psus", token: a.AdminToken}), 401)
	second := spare(first)

	if oid(foreign) != 0 {
		t.Error("the spare of another bank was not dropped")
	}
	if oid(abandoned) != 0 {
		t.Error("the spare left half made an hour ago was not dropped")
	}
	if oid(making) == 0 {
		t.Error("the spare another replica began a second ago was dropped")
	}

	// One after the other: the first takes the spare, the second is made
	// whether or not the next spare is ready yet.
	var b, c newTenant
	rb := s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-b"})
	rc := s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-c"})
	expect(t, rb, 201)
	expect(t, rc, 201)
	rb.JSON(t, &b)
	rc.JSON(t, &c)
	if got := oid(root + "_t_job_b"); got != second {
		t.Errorf("tenant job-b's schema is object %d, the spare was %d", got, second)
	}
	for _, tn := range []newTenant{b, c} {
		expect(t, s.do(req{method: "GET", path: "/t/" + tn.Name + "/sandbox/psus", token: tn.AdminToken}), 200)
	}
	if b.AdminToken == a.AdminToken || c.AdminToken == b.AdminToken {
		t.Error("tenants share an admin token")
	}

	// A spare that does not open (damaged here; a bug or a half-applied
	// change in life): the tenant is made afresh, not refused.
	broken := spare(second)
	var brokenName string
	if err := conn.QueryRow(ctx, "SELECT nspname FROM pg_namespace WHERE oid = $1", broken).Scan(&brokenName); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DROP TABLE "`+brokenName+`".settings`); err != nil {
		t.Fatal(err)
	}
	var d newTenant
	rd := s.admin("POST", "/sandbox/tenants", map[string]string{"name": "job-d"})
	expect(t, rd, 201)
	rd.JSON(t, &d)
	if got := oid(root + "_t_job_d"); got == broken || got == 0 {
		t.Errorf("tenant job-d's schema is object %d, the broken spare was %d: want a schema made afresh", got, broken)
	}
	expect(t, s.do(req{method: "GET", path: "/t/job-d/sandbox/psus", token: d.AdminToken}), 200)
}
