package httpx

import (
	"net"
	"strconv"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/obsandbox/sandbox/internal/telemetry"
)

// traceRequest starts the request's trace (package telemetry) when the
// sandbox exports traces: the gateway's span, named by the route once
// routed, carrying the interaction id, the client and the outcome; the
// spans below it (authorization, the use case, the store) nest in it.
func (s *Server) traceRequest(next echo.HandlerFunc) echo.HandlerFunc {
	if s.Deps.Tracer == nil {
		return next
	}
	return func(c echo.Context) error {
		req := c.Request()
		ip, _, err := net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			ip = req.RemoteAddr
		}
		ctx := telemetry.WithInteraction(telemetry.Extract(req.Context(), req.Header), InteractionID(c))
		ctx, span := telemetry.Root(ctx, s.Deps.Tracer, req.Method, attribute.String("http.request.method", req.Method),
			attribute.String("url.path", req.URL.Path), attribute.String("client.address", ip),
			attribute.String("user_agent.original", req.UserAgent()), attribute.String("sandbox.layer", "gateway"))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		if err := next(c); err != nil {
			c.Error(err)
		}
		if route := c.Path(); route != "" {
			span.SetName(req.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if p := PrincipalOf(c); p != nil {
			span.SetAttributes(attribute.String("sandbox.client_id", p.Token.ClientID))
		}
		if r, ok := c.Get(KeyRule).(string); ok && r != "" {
			span.SetAttributes(attribute.String("sandbox.rule", r))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		return nil
	}
}

// span starts a child span of the request's trace for one layer; end it
// with the outcome, which makes its parent the request's current span again.
func span(c echo.Context, name, layer string, attrs ...attribute.KeyValue) (trace.Span, func(error)) {
	parent := trace.SpanFromContext(c.Request().Context())
	ctx, sp := telemetry.Start(c.Request().Context(), name, append(attrs, attribute.String("sandbox.layer", layer))...)
	if !sp.IsRecording() {
		return sp, func(error) {}
	}
	c.SetRequest(c.Request().WithContext(ctx))
	return sp, func(err error) {
		if err != nil {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
		c.SetRequest(c.Request().WithContext(trace.ContextWithSpan(c.Request().Context(), parent)))
	}
}
