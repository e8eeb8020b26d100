package store

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/obsandbox/sandbox/internal/telemetry"
)

// traced starts a store span named after the store method that called the
// function calling it ("store.write SaveToken"), when the request is
// traced; end records the outcome. Untraced, it costs a context lookup.
func traced(ctx context.Context, kind, system string) (context.Context, func(error)) {
	if !telemetry.Recording(ctx) {
		return ctx, func(error) {}
	}
	op := callerOpAt(3)
	ctx, span := telemetry.Start(ctx, "store."+kind+" "+op, attribute.String("db.system.name", system),
		attribute.String("db.operation.name", op))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// system names the database for db.system.name.
func (s *Store) system() string {
	if s.pg != nil {
		return "postgresql"
	}
	return "sqlite"
}
