package api

import (
	"context"
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

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz checks the database and Redis (in parallel), and fails while draining.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	res := readiness{Status: "ok", Checks: map[string]string{}}
	if s.draining.Load() {
		res.Status = "draining"
		writeJSON(w, http.StatusServiceUnavailable, res)
		return
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, c := range s.d.Ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			err := c.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Status = "unavailable"
				res.Checks[c.Name] = err.Error()
				s.log(r.Context()).Warn("readiness check failed", "check", c.Name, "error", err)
				return
			}
			res.Checks[c.Name] = "ok"
		})
	}
	wg.Wait()
	status := http.StatusOK
	if res.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}
