package api

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// refDir is where the official specifications are: $SANDBOX_REF_DIR, or the
// shared folder beside the repository.
func refDir() string {
	if d := os.Getenv("SANDBOX_REF_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "ref")
}

var contracts = []struct {
	name     string
	contract Contract
	official string // folder of the official files under <ref>/obie
	ops      int    // operations served
}{
	// 29 AIS, 16 domestic PIS, 17 international PIS, 8 file PIS, 4 CBPII, 5
	// events, and VRP: 7 in v3.1.11, 9 in v4.0 (the PUT and PATCH of a
	// version migration).
	{"UKOBv3", UKOBv3, "v3.1.11", 86},
	{"UKOBv4", UKOBv4, "v4.0", 88},
}

// scope is the part of each official file a contract serves: its operations
// go under prefix, except those under the excluded paths.
var scope = []struct {
	file, prefix string
	exclude      []string
}{
	{"account-info-openapi.yaml", "/aisp", nil},
	{"payment-initiation-openapi.yaml", "/pisp", nil},
	{"confirmation-funds-openapi.yaml", "/cbpii", nil},
	{"events-openapi.yaml", "", nil},
	{"vrp-openapi.yaml", "/pisp", nil},
}

func TestContractsLoad(t *testing.T) {
	for _, c := range contracts {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			doc, err := c.contract.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := len(operations(doc)); got != c.ops {
				t.Errorf("%d operations, want %d", got, c.ops)
			}
		})
	}
}

// TestContractsCoverOfficialOperations checks each contract against its
// official files: every operation in scope is ours, and we have no other.
func TestContractsCoverOfficialOperations(t *testing.T) {
	for _, c := range contracts {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(refDir(), "obie", c.official)
			if _, err := os.Stat(dir); err != nil {
				t.Skipf("the official %s files are not here (%v); set SANDBOX_REF_DIR", c.official, err)
			}
			doc, err := c.contract.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ours := operations(doc)
			var official []string
			for _, s := range scope {
				raw, err := os.ReadFile(filepath.Join(dir, s.file))
				if err != nil {
					t.Fatal(err)
				}
				var f struct {
					Paths map[string]map[string]yaml.Node `yaml:"paths"`
				}
				if err := yaml.Unmarshal(raw, &f); err != nil {
					t.Fatalf("%s: %v", s.file, err)
				}
				for path, item := range f.Paths {
					if slices.ContainsFunc(s.exclude, func(p string) bool { return strings.HasPrefix(path, p) }) {
						continue
					}
					for method := range item {
						if op := strings.ToUpper(method); slices.Contains(httpMethods, op) {
							official = append(official, op+" "+s.prefix+path)
						}
					}
				}
			}
			for _, op := range official {
				if !slices.Contains(ours, op) {
					t.Errorf("official %s is not in api/%s", op, c.contract.File())
				}
			}
			for _, op := range ours {
				if !slices.Contains(official, op) {
					t.Errorf("api/%s has %s, which the official %s files in scope do not", c.contract.File(), op, c.official)
				}
			}
		})
	}
}

// v4Only are the operations v4.0 adds to what both versions serve: the
// VRP consent's PUT and PATCH (version migrations).
var v4Only = []string{"PATCH /pisp/domestic-vrp-consents/{ConsentId}", "PUT /pisp/domestic-vrp-consents/{ConsentId}"}

// TestContractsServeSameOperations: the v4.0 contract covers exactly the
// operations the v3.1.11 one does, and those v4.0 adds.
func TestContractsServeSameOperations(t *testing.T) {
	t.Parallel()
	v3, err := UKOBv3.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v4, err := UKOBv4.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, b := operations(v3), operations(v4)
	for _, op := range a {
		if !slices.Contains(b, op) {
			t.Errorf("%s is in api/%s but not in api/%s", op, UKOBv3.File(), UKOBv4.File())
		}
	}
	for _, op := range b {
		if !slices.Contains(a, op) && !slices.Contains(v4Only, op) {
			t.Errorf("%s is in api/%s but not in api/%s", op, UKOBv4.File(), UKOBv3.File())
		}
	}
}

var httpMethods = []string{"GET", "PUT", "POST", "DELETE", "PATCH"}

// operations lists "METHOD /path" for every operation of doc, sorted.
func operations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}
