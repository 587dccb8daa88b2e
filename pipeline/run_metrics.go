package pipeline

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus metrics of runs and stages, in their own
// registry (no global state). A nil *Metrics records nothing.
type Metrics struct {
	Registry     *prometheus.Registry
	runs         *prometheus.CounterVec
	runSeconds   *prometheus.HistogramVec
	lastSuccess  *prometheus.GaugeVec
	stageSeconds *prometheus.HistogramVec
	stageRows    *prometheus.GaugeVec
	stageTotal   *prometheus.CounterVec
	stageRetries *prometheus.CounterVec
	shardSeconds *prometheus.HistogramVec
}

// NewMetrics makes the metrics in a fresh registry (with Go and process collectors).
func NewMetrics() *Metrics {
	m := newMetrics()
	m.Registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// NewMetricsIn makes the metrics in an existing registry (e.g. the API
// server's, so `retain serve` exposes them on its /metrics).
func NewMetricsIn(reg *prometheus.Registry) (*Metrics, error) {
	m := newMetrics()
	m.Registry = reg
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering run metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.runs, m.runSeconds, m.lastSuccess, m.stageSeconds, m.stageRows, m.stageTotal, m.stageRetries, m.shardSeconds}
}

func newMetrics() *Metrics {
	buckets := prometheus.ExponentialBuckets(0.05, 2.5, 12)
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "retain_runs_total",
			Help: "Runs finished, by kind and status."}, []string{"kind", "status"}),
		runSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "retain_run_duration_seconds",
			Help: "Wall time of successful runs.", Buckets: buckets}, []string{"kind"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "retain_run_last_success_timestamp_seconds",
			Help: "Unix time of the last successful run, by kind."}, []string{"kind"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "retain_stage_duration_seconds",
			Help: "Wall time of executed stages.", Buckets: buckets}, []string{"stage", "status"}),
		stageRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "retain_stage_rows",
			Help: "Rows written by the last execution of a stage."}, []string{"stage"}),
		stageTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "retain_stages_total",
			Help: "Stages finished, by outcome (succeeded, failed, skipped)."}, []string{"stage", "status"}),
		stageRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "retain_stage_retries_total",
			Help: "Stage attempts that failed and were retried."}, []string{"stage"}),
		shardSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "retain_shard_duration_seconds",
			Help: "Wall time of one shard of a per-shard stage.", Buckets: buckets}, []string{"stage"}),
	}
	m.Registry.MustRegister(m.collectors()...)
	return m
}

// Handler serves the registry in the Prometheus text format (mount on /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

func (m *Metrics) runFinished(kind, status string, d time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(kind, status).Inc()
	if status == StatusSucceeded {
		m.runSeconds.WithLabelValues(kind).Observe(d.Seconds())
		m.lastSuccess.WithLabelValues(kind).Set(float64(now.Unix()))
	}
}

func (m *Metrics) stageFinished(stage, status string, d time.Duration, rows int64) {
	if m == nil {
		return
	}
	m.stageTotal.WithLabelValues(stage, status).Inc()
	m.stageSeconds.WithLabelValues(stage, status).Observe(d.Seconds())
	if status == StatusSucceeded {
		m.stageRows.WithLabelValues(stage).Set(float64(rows))
	}
}

func (m *Metrics) stageSkipped(stage string) {
	if m == nil {
		return
	}
	m.stageTotal.WithLabelValues(stage, StatusSkipped).Inc()
}

func (m *Metrics) stageRetried(stage string) {
	if m == nil {
		return
	}
	m.stageRetries.WithLabelValues(stage).Inc()
}

func (m *Metrics) shardFinished(stage string, d time.Duration) {
	if m == nil {
		return
	}
	m.shardSeconds.WithLabelValues(stage).Observe(d.Seconds())
}
