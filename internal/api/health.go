package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// readyTimeout bounds each readiness check, well inside a kubelet probe's timeout.
const readyTimeout = 2 * time.Second

// livez answers while the process serves HTTP at all: restarting cannot fix a
// database outage, so liveness checks nothing else.
func (s *Server) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the body of /readyz: {"status": "ok", "checks": {"database": "ok",
// "redis": "unavailable"}}. A check says only ok or unavailable: the probe port is the
// public one, and an error's text (a host name, an address, a user name) is not for the
// internet. The error is logged.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Readiness states, of the whole and of each check.
const (
	readyOK          = "ok"
	readyUnavailable = "unavailable"
	readyDraining    = "draining"
)

// readyz checks the database and Redis (in parallel), and fails while draining.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, readiness{Status: readyDraining, Checks: map[string]string{}})
		return
	}
	writeReadiness(w, check(r.Context(), s.d.Ready, s.log(r.Context())))
}

// ReadinessHandler answers config.ReadinessPath for a process without a Server
// (`sortographer work`) as Server does: the checks in parallel, 200 when all pass and
// 503 otherwise, the body naming each check ok or unavailable, and a failed check's
// error logged to log, never answered.
func ReadinessHandler(checks []Check, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeReadiness(w, check(r.Context(), checks, log))
	})
}

// check runs the checks in parallel, each within readyTimeout, and logs the failures.
func check(ctx context.Context, checks []Check, log *slog.Logger) readiness {
	res := readiness{Status: readyOK, Checks: map[string]string{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			err := c.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Status = readyUnavailable
				res.Checks[c.Name] = readyUnavailable
				log.Warn("readiness check failed", "check", c.Name, "error", err)
				return
			}
			res.Checks[c.Name] = readyOK
		})
	}
	wg.Wait()
	return res
}

func writeReadiness(w http.ResponseWriter, res readiness) {
	status := http.StatusOK
	if res.Status != readyOK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}
