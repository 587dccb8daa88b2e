package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/retainlab/retain/stores"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document served at /v1/openapi.json.
func OpenAPI() []byte { return openAPI }

// Store is what the API needs from a store (*stores.DB implements it).
type Store interface {
	Ping(ctx context.Context) error
	LookupToken(ctx context.Context, plain string) (stores.Token, error)
	RiskPage(ctx context.Context, q stores.RiskQuery) (stores.RiskPage, error)
	Customer(ctx context.Context, id string) (stores.CustomerDetail, error)
	Publishes(ctx context.Context, limit int) ([]stores.PublishInfo, error)
	Claim(ctx context.Context, req stores.ClaimRequest) ([]stores.QueueRow, error)
	Ack(ctx context.Context, id int64, claimer, status, outcome string) (stores.QueueRow, error)
	RecordOutcomes(ctx context.Context, outs []stores.Outcome) (int, error)
	CurrentPublish(ctx context.Context) (*stores.PublishInfo, error)
}

// Runs lists pipeline runs (the run ledger) for GET /v1/runs; without it
// "runs" repeats the publish history ("publishes", always present).
type Runs func(ctx context.Context, limit int) (any, error)

// Options configure a Server.
type Options struct {
	// Runs lists runs (the run ledger); nil: the store's publish history.
	Runs Runs
	// Logger receives one line per failed request (default: discard).
	Logger *slog.Logger
	// PageCacheBytes bounds the cache of encoded risk-list pages of the
	// current publish (default 64 MiB; negative disables it).
	PageCacheBytes int
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	store   Store
	opts    Options
	mux     *http.ServeMux
	reg     *prometheus.Registry
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	claimed prometheus.Counter
	pages   *pageCache
	flight  singleflight.Group
}

// New builds the API over a store.
func New(store Store, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{store: store, opts: opts, mux: http.NewServeMux(), reg: prometheus.NewRegistry()}
	if opts.PageCacheBytes == 0 {
		opts.PageCacheBytes = 64 << 20
	}
	s.opts.PageCacheBytes = opts.PageCacheBytes
	s.pages = newPageCache(opts.PageCacheBytes)
	s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "retain_api_page_cache_hits_total", Help: "Risk-list pages served from the page cache."},
		func() float64 { s.pages.mu.Lock(); defer s.pages.mu.Unlock(); return float64(s.pages.hits) }))
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "retain_api_requests_total", Help: "API requests by route and status code."}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "retain_api_request_seconds", Help: "API request latency by route.",
		Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}, []string{"route"})
	s.claimed = prometheus.NewCounter(prometheus.CounterOpts{Name: "retain_queue_claimed_total", Help: "Queue rows handed out by claims."})
	s.reg.MustRegister(s.reqs, s.latency, s.claimed, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.route("GET /healthz", "", s.health)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.route("GET /v1/openapi.json", "", func(w http.ResponseWriter, r *http.Request, _ *stores.Token) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(openAPI)
		return err
	})
	s.route("GET /v1/risk-list", stores.ScopeRead, s.riskList)
	s.route("GET /v1/customers/{id}", stores.ScopeRead, s.customer)
	s.route("GET /v1/runs", stores.ScopeRead, s.runs)
	s.route("POST /v1/queue/claim", stores.ScopeClaim, s.claim)
	s.route("POST /v1/queue/{id}/ack", stores.ScopeClaim, s.ack)
	s.route("POST /v1/outcomes", stores.ScopeClaim, s.outcomes)
	return s
}

// Registry is the server's Prometheus registry (to add more collectors).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// httpError is an error with its status code.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code, fmt.Sprintf(format, args...)}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type handler func(w http.ResponseWriter, r *http.Request, tok *stores.Token) error

// route registers a handler behind authentication (scope "" = public),
// with metrics and JSON errors.
func (s *Server) route(pattern, scope string, h handler) {
	name := pattern[strings.IndexByte(pattern, ' ')+1:]
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		err := func() error {
			var tok *stores.Token
			if scope != "" {
				t, err := s.authenticate(r, scope)
				if err != nil {
					return err
				}
				tok = t
			}
			return h(sw, r, tok)
		}()
		switch {
		case err != nil && sw.code == 0:
			s.writeError(sw, r, err)
		case err != nil: // the response had begun (e.g. the client went away)
			s.opts.Logger.Debug("writing response", "path", r.URL.Path, "err", err)
		}
		s.reqs.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
		s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) authenticate(r *http.Request, scope string) (*stores.Token, error) {
	h := r.Header.Get("Authorization")
	plain, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || plain == "" {
		return nil, errorf(http.StatusUnauthorized, "missing bearer token (Authorization: Bearer <token>; create one with `retain tokens create`)")
	}
	t, err := s.store.LookupToken(r.Context(), strings.TrimSpace(plain))
	if errors.Is(err, stores.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, "unknown or revoked token")
	}
	if err != nil {
		return nil, err
	}
	if !t.Allows(scope) {
		return nil, errorf(http.StatusForbidden, "token %q lacks the %s scope", t.Name, scope)
	}
	return &t, nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := http.StatusInternalServerError, "internal error"
	var he *httpError
	switch {
	case errors.As(err, &he):
		code, msg = he.code, he.msg
	case stores.IsBadInput(err):
		code, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, stores.ErrNotFound):
		code, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, stores.ErrConflict):
		code, msg = http.StatusConflict, err.Error()
	case errors.Is(err, context.Canceled):
		code, msg = 499, "request cancelled"
	}
	if code >= 500 {
		s.opts.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="retain"`)
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "request body: %v", err)
	}
	return nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, _ *stores.Token) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

var riskParams = map[string]bool{"tier": true, "segment": true, "min_value": true, "limit": true, "cursor": true}

func (s *Server) riskList(w http.ResponseWriter, r *http.Request, _ *stores.Token) error {
	v := r.URL.Query()
	for k := range v {
		if !riskParams[k] {
			return errorf(http.StatusBadRequest, "%s: unknown parameter (use tier, segment, min_value, limit, cursor)", k)
		}
	}
	q := stores.RiskQuery{Tier: v.Get("tier"), Segment: v.Get("segment"), Cursor: v.Get("cursor")}
	if s := v.Get("min_value"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, "min_value: %q is not a number", s)
		}
		q.MinValue = f
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return errorf(http.StatusBadRequest, "limit: %q is not an integer", s)
		}
		if n == 0 {
			return errorf(http.StatusBadRequest, "limit: 0 is not between 1 and 10000")
		}
		q.Limit = n
	}
	if err := q.Validate(); err != nil {
		return err
	}
	cur, err := s.store.CurrentPublish(r.Context())
	if err != nil {
		return err
	}
	var gen int64 = -1
	if cur != nil {
		gen = cur.ID
	}
	key := fmt.Sprintf("%s\x00%s\x00%g\x00%d\x00%s", q.Tier, q.Segment, q.MinValue, q.Limit, q.Cursor)
	body, ok := s.pages.get(gen, key)
	if !ok {
		v, err, _ := s.flight.Do(fmt.Sprint(gen)+"\x00"+key, func() (any, error) {
			page, err := s.store.RiskPage(context.WithoutCancel(r.Context()), q)
			if err != nil {
				return nil, err
			}
			b := page.AppendJSON(make([]byte, 0, 700*len(page.Rows)+256))
			s.pages.put(gen, key, b)
			return b, nil
		})
		if err != nil {
			return err
		}
		body = v.([]byte)
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}

func (s *Server) customer(w http.ResponseWriter, r *http.Request, _ *stores.Token) error {
	id := r.PathValue("id")
	if id == "" || len(id) > 200 {
		return errorf(http.StatusBadRequest, "id: missing or longer than 200 characters")
	}
	d, err := s.store.Customer(r.Context(), id)
	if errors.Is(err, stores.ErrNotFound) {
		return errorf(http.StatusNotFound, "customer %q is not in the risk list", id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request, _ *stores.Token) error {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "limit: %q is not between 1 and 1000", v)
		}
		limit = n
	}
	p, err := s.store.Publishes(r.Context(), limit)
	if err != nil {
		return err
	}
	if p == nil {
		p = []stores.PublishInfo{}
	}
	out := map[string]any{"publishes": p, "runs": p}
	if s.opts.Runs != nil {
		runs, err := s.opts.Runs(r.Context(), limit)
		if err != nil {
			return err
		}
		out["runs"] = runs
	}
	return writeJSON(w, http.StatusOK, out)
}

// ClaimBody is the body of POST /v1/queue/claim.
type ClaimBody struct {
	Campaign     string  `json:"campaign"`
	N            int     `json:"n"`
	LeaseSeconds float64 `json:"lease_seconds"`
	Worker       string  `json:"worker,omitempty"` // optional: tells apart workers sharing a token
}

func claimer(tok *stores.Token, worker string) string {
	if worker == "" {
		return tok.Name
	}
	return tok.Name + "/" + worker
}

func (s *Server) claim(w http.ResponseWriter, r *http.Request, tok *stores.Token) error {
	var b ClaimBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if b.LeaseSeconds == 0 {
		b.LeaseSeconds = 300
	}
	if len(b.Worker) > 100 {
		return errorf(http.StatusBadRequest, "worker: longer than 100 characters")
	}
	rows, err := s.store.Claim(r.Context(), stores.ClaimRequest{Campaign: b.Campaign, N: b.N,
		Lease: time.Duration(b.LeaseSeconds * float64(time.Second)), Claimer: claimer(tok, b.Worker)})
	if err != nil {
		return err
	}
	s.claimed.Add(float64(len(rows)))
	return writeJSON(w, http.StatusOK, map[string]any{"rows": rows})
}

// AckBody is the body of POST /v1/queue/{id}/ack.
type AckBody struct {
	Status  string `json:"status,omitempty"` // done (default) or failed
	Outcome string `json:"outcome,omitempty"`
	Worker  string `json:"worker,omitempty"`
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, tok *stores.Token) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return errorf(http.StatusBadRequest, "id: %q is not a queue row id", r.PathValue("id"))
	}
	var b AckBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	row, err := s.store.Ack(r.Context(), id, claimer(tok, b.Worker), b.Status, b.Outcome)
	if errors.Is(err, stores.ErrNotFound) {
		return errorf(http.StatusNotFound, "queue row %d does not exist", id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, row)
}

// OutcomesBody is the body of POST /v1/outcomes.
type OutcomesBody struct {
	Outcomes []stores.Outcome `json:"outcomes"`
}

func (s *Server) outcomes(w http.ResponseWriter, r *http.Request, _ *stores.Token) error {
	var b OutcomesBody
	if err := decodeBody(r, &b); err != nil {
		return err
	}
	if len(b.Outcomes) == 0 || len(b.Outcomes) > 10000 {
		return errorf(http.StatusBadRequest, "outcomes: give 1 to 10000 outcomes")
	}
	n, err := s.store.RecordOutcomes(r.Context(), b.Outcomes)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"recorded": n})
}
