// Package telemetry traces the sandbox with OpenTelemetry: one trace per
// request, with spans for the gateway (the HTTP exchange), authorization
// (the token or client check), the use case (the API operation) and the
// store (each transaction and query), every span carrying the request's
// x-fapi-interaction-id as fapi.interaction_id. Spans are exported over
// OTLP/HTTP to the collector the standard environment names
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, with
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, ...). Without one, the
// sandbox traces nothing and a span costs nothing: Start checks whether its
// parent records before it does any work. The provider is the sandbox's
// own, not OpenTelemetry's global one (a test can run several sandboxes,
// each with its collector); children find it through their parent span.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of the sandbox's spans.
const Name = "github.com/obsandbox/sandbox"

// Configured reports whether the environment names an OTLP collector.
func Configured(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Provider is the sandbox's tracer provider, exporting over OTLP/HTTP.
type Provider = sdktrace.TracerProvider

// Setup makes a tracer provider exporting over OTLP/HTTP to endpoint (a
// URL), or when endpoint is "" to the collector the environment names;
// nil when there is none. Shutdown flushes and stops it.
func Setup(ctx context.Context, version, endpoint string) (*Provider, error) {
	var opts []otlptracehttp.Option
	switch {
	case endpoint != "":
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	case !Configured(os.Getenv):
		return nil, nil
	}
	if p := os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: the sandbox exports http/protobuf (OTLP/HTTP, port 4318 by default)", p)
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", serviceName()), attribute.String("service.version", version)))
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// propagator reads a W3C traceparent a TPP sends, so its trace goes on
// through the bank.
var propagator = propagation.TraceContext{}

// Extract continues the trace a request's headers carry (W3C Trace Context).
func Extract(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

func serviceName() string {
	if n := os.Getenv("OTEL_SERVICE_NAME"); n != "" {
		return n
	}
	return "obsandbox"
}

type interactionKey struct{}

// WithInteraction carries a request's x-fapi-interaction-id to every span
// started under ctx.
func WithInteraction(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, interactionKey{}, id)
}

// AttrInteraction is the span attribute naming the request's
// x-fapi-interaction-id.
const AttrInteraction = "fapi.interaction_id"

// Root starts a request's first span (kind server) with the provider.
func Root(ctx context.Context, tp trace.TracerProvider, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return start(ctx, tp, name, trace.SpanKindServer, attrs)
}

// Start starts a child span when the trace records (a no-op span
// otherwise, without a lookup or an allocation).
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return start(ctx, parent.TracerProvider(), name, trace.SpanKindInternal, attrs)
}

// Recording reports whether spans started under ctx are recorded.
func Recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

func start(ctx context.Context, tp trace.TracerProvider, name string, kind trace.SpanKind, attrs []attribute.KeyValue) (context.Context, trace.Span) {
	if id, ok := ctx.Value(interactionKey{}).(string); ok && id != "" {
		attrs = append(attrs, attribute.String(AttrInteraction, id))
	}
	return tp.Tracer(Name).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}
