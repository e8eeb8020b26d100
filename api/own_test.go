package api

import (
	"context"
	"testing"
)

// TestSandboxContractsLoad: the contracts of the sandbox's own endpoints
// parse and validate as OpenAPI 3 (their examples included), with every
// operation named and tagged for the explorer.
func TestSandboxContractsLoad(t *testing.T) {
	t.Parallel()
	for _, c := range []Contract{AuthorizationServer, Sandbox} {
		doc, err := c.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				if op.OperationID == "" || len(op.Tags) == 0 || op.Summary == "" {
					t.Errorf("%s %s %s: want an operationId, a tag and a summary", c.File(), method, path)
				}
				if ids[op.OperationID] {
					t.Errorf("%s: operationId %s twice", c.File(), op.OperationID)
				}
				ids[op.OperationID] = true
			}
		}
	}
}
