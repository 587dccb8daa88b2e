package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/retainlab/retain/api"
	"github.com/retainlab/retain/pipeline"
	"github.com/retainlab/retain/stores"
)

// serveEnv is everything `retain serve` runs: the HTTP API and background
// loops. The scheduler (jobs) adds its own loops to Background before run.
type serveEnv struct {
	Config *pipeline.Config
	Store  *stores.DB
	API    *api.Server
	Server *http.Server
	Logger *slog.Logger
	// Background loops run beside the HTTP server until the context ends;
	// an error from any stops serve.
	Background []func(ctx context.Context) error
	// Close releases what setup opened (after the loops stop).
	Close []func() error
}

// setupServe opens the primary store and builds the API and its lease reaper.
func setupServe(ctx context.Context, cfg *pipeline.Config, addr string, reapEvery time.Duration) (*serveEnv, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	db, err := cfg.Stores.Resolved(cfg.DataDir).OpenPrimary(ctx)
	if err != nil {
		return nil, err
	}
	opts := api.Options{Logger: logger}
	closers := []func() error{db.Close}
	// GET /v1/runs lists the run ledger when there is one (publishes always)
	if led, err := pipeline.OpenLedger(ctx, pipeline.LedgerDatabase(cfg), cfg.Schedule.Schema); err == nil {
		opts.Runs = func(ctx context.Context, limit int) (any, error) {
			runs, err := led.Runs(ctx, pipeline.RunsFilter{Limit: limit})
			if runs == nil {
				runs = []pipeline.RunRecord{}
			}
			return runs, err
		}
		closers = append(closers, func() error { led.Close(); return nil })
	} else {
		logger.Warn("no run ledger; /v1/runs lists publishes only", "err", err)
	}
	srv := api.New(db, opts)
	env := &serveEnv{Config: cfg, Store: db, API: srv, Logger: logger,
		Server: &http.Server{Addr: addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second},
		Close:  closers}
	env.Background = append(env.Background, func(ctx context.Context) error {
		t := time.NewTicker(reapEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				back, expired, err := db.Reap(ctx)
				if err != nil && ctx.Err() == nil {
					logger.Error("queue reaper", "err", err)
				} else if back+expired > 0 {
					logger.Info("queue reaper", "returned_to_pending", back, "expired", expired)
				}
			}
		}
	})
	return env, nil
}

// run serves until ctx ends, then shuts down gracefully.
func (e *serveEnv) run(ctx context.Context) error {
	defer func() {
		for _, c := range e.Close {
			c()
		}
	}()
	ln, err := net.Listen("tcp", e.Server.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	e.Logger.Info("serving", "addr", "http://"+ln.Addr().String(), "store", e.Store.String(), "openapi", "http://"+ln.Addr().String()+"/v1/openapi.json")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := e.Server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return e.Server.Shutdown(sctx)
	})
	for _, loop := range e.Background {
		g.Go(func() error { return loop(gctx) })
	}
	return g.Wait()
}

func newServeCmd() *cobra.Command {
	var cfgPath, addr string
	var reap time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the risk list and the intervention queue over HTTP (the API a CRM pulls)",
		Long: `Serve the API from the primary store (Postgres if stores.postgres is set, else SQLite):

  retain serve --config retain.yaml [--addr 127.0.0.1:8080]

Endpoints: GET /v1/risk-list, /v1/customers/{id}, /v1/runs, POST
/v1/queue/claim, /v1/queue/{id}/ack, /v1/outcomes, /healthz, /metrics and the
OpenAPI document at /v1/openapi.json. Every /v1 call needs a bearer token
from ` + "`retain tokens create`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if reap < time.Second {
				return usagef("--reap-every: %s is shorter than 1s", reap)
			}
			env, err := setupServe(cmd.Context(), cfg, addr, reap)
			if err != nil {
				return err
			}
			if err := addScheduler(cmd.Context(), env); err != nil { // run.go (issue 7)
				return err
			}
			return env.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "config file (YAML)")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	f.DurationVar(&reap, "reap-every", 15*time.Second, "how often lost leases return to pending and old rows expire")
	return cmd
}

func newTokensCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Create, list and revoke API bearer tokens"}
	var cfgPath, name, scopes string
	var asJSON bool
	open := func(ctx context.Context) (*stores.DB, error) {
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return nil, err
		}
		return cfg.Stores.Resolved(cfg.DataDir).OpenPrimary(ctx)
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token (printed once; only its hash is stored)",
		Long:  "retain tokens create --config retain.yaml --name crm --scopes read,claim\n\nScopes: read (risk list, customers, runs), claim (read + queue claims, acks, outcomes), admin (everything).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := stores.ParseScopes(scopes)
			if err != nil {
				return usagef("--scopes: %v", err)
			}
			if name == "" {
				return usagef("--name is required")
			}
			db, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			plain, tok, err := db.CreateToken(cmd.Context(), name, sc)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(os.Stdout, map[string]any{"token": plain, "id": tok.ID, "name": tok.Name, "scopes": tok.Scopes})
			}
			fmt.Fprintf(os.Stderr, "token %d %q with scopes %v (shown once; store it now):\n", tok.ID, tok.Name, tok.Scopes)
			fmt.Println(plain)
			return nil
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			toks, err := db.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(os.Stdout, map[string]any{"tokens": toks})
			}
			for _, t := range toks {
				state := "active"
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.Format(time.RFC3339)
				}
				fmt.Printf("%4d  %-20s %-18v %s\n", t.ID, t.Name, t.Scopes, state)
			}
			return nil
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("ID: %q is not a token id", args[0])
			}
			db, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RevokeToken(cmd.Context(), id); err != nil {
				if errors.Is(err, stores.ErrNotFound) {
					return usagef("token %d does not exist or is already revoked", id)
				}
				return err
			}
			if asJSON {
				return printJSON(os.Stdout, map[string]any{"revoked": id})
			}
			fmt.Printf("revoked token %d\n", id)
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		c.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
		c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object on stdout")
		cmd.AddCommand(c)
	}
	create.Flags().StringVar(&name, "name", "", "who the token is for (claims are recorded under it)")
	create.Flags().StringVar(&scopes, "scopes", "read", "comma-separated: read, claim, admin")
	return cmd
}
