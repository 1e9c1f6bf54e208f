package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sortographer/sortographer/internal/config"
)

// metricsServer serves /metrics, and nothing else, on SORTOGRAPHER_METRICS_ADDR: a
// port of its own, which no Service behind the Ingress exposes, so the metrics are not
// public on the gallery's host name. Both `serve` and `work` run one.
type metricsServer struct {
	srv    *http.Server // nil: metrics off
	addr   string
	failed chan error
}

// startMetricsServer binds cfg.MetricsAddr and serves h at /metrics there. Failing to
// bind is an error, for the caller to fail the process: a gallery pod whose metrics
// cannot be scraped would be invisible to its alerts. An empty address serves nothing.
func startMetricsServer(ctx context.Context, cfg config.Config, h http.Handler, log *slog.Logger) (*metricsServer, error) {
	if cfg.MetricsAddr == "" {
		log.Info("serving no metrics", "env", config.EnvMetricsAddr)
		return &metricsServer{}, nil
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s (%s): %w", cfg.MetricsAddr, config.EnvMetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	m := &metricsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		addr:   ln.Addr().String(),
		failed: make(chan error, 1),
	}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.failed <- fmt.Errorf("serve metrics on %s: %w", m.addr, err)
		}
	}()
	log.Info("serving metrics", "addr", m.addr)
	return m, nil
}

// Failed delivers the error should the server stop by itself; it never delivers when
// the metrics are off.
func (m *metricsServer) Failed() <-chan error { return m.failed }

// Shutdown stops the server, letting a scrape in progress finish within ctx.
func (m *metricsServer) Shutdown(ctx context.Context) error {
	if m.srv == nil {
		return nil
	}
	if err := m.srv.Shutdown(ctx); err != nil {
		_ = m.srv.Close()
		return fmt.Errorf("shut down the metrics server: %w", err)
	}
	return nil
}
