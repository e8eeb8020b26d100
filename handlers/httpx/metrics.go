package httpx

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/obsandbox/sandbox/internal/store"
)

// metrics are the Prometheus series GET /metrics serves: requests by route
// and status, latency, rate-limit refusals, security events and consents by
// status.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	RateLimited *prometheus.CounterVec
}

func newMetrics(st *store.Store) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sandbox_http_requests_total",
		Help: "HTTP requests by route template, method and status code."}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sandbox_http_request_duration_seconds",
		Help: "HTTP request latency by route template and method.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}},
		[]string{"route", "method"})
	m.RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sandbox_rate_limited_total",
		Help: "Requests refused with 429 by endpoint class."}, []string{"class"})
	m.reg.MustRegister(m.requests, m.latency, m.RateLimited, collectors.NewGoCollector(), &dbCollector{st: st})
	return m
}

func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		t0 := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		method := c.Request().Method
		m.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(time.Since(t0).Seconds())
		return nil
	}
}

func (m *metrics) handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

// dbCollector reads counts from the database at scrape time.
type dbCollector struct{ st *store.Store }

var (
	consentsDesc = prometheus.NewDesc("sandbox_consents", "Consents by kind and status.", []string{"kind", "status"}, nil)
	eventsDesc   = prometheus.NewDesc("sandbox_security_events_total", "Security events raised by rule and severity.", []string{"rule", "severity"}, nil)
)

func (d *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- consentsDesc
	ch <- eventsDesc
}

func (d *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cs, err := d.st.ConsentCounts(ctx); err == nil {
		for _, c := range cs {
			ch <- prometheus.MustNewConstMetric(consentsDesc, prometheus.GaugeValue, float64(c.N), c.A, c.B)
		}
	}
	if es, err := d.st.EventCounts(ctx); err == nil {
		for _, e := range es {
			ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(e.N), e.A, e.B)
		}
	}
}
