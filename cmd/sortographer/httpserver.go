package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// httpTimeouts bound how long a client may hold a connection without making progress.
// Uploads (up to spec.server.maxUploadSize, 100 MB and more) and downloads of originals
// may take many minutes on a slow link, so no timeout caps a whole request: instead the
// body must keep moving. Each read of the request body pushes the read deadline
// BodyIdle on, and each read or write pushes the write deadline Write on, so a steady
// 100 MB upload at 50 kB/s (35 minutes) succeeds while a client that stops sending is
// cut off after BodyIdle.
type httpTimeouts struct {
	// ReadHeader: the request line and headers must arrive within it (slow-loris).
	// An ingress forwards headers at once; a browser sends them in one packet.
	ReadHeader time.Duration
	// Read: the whole request, unless its body keeps moving (BodyIdle).
	Read time.Duration
	// BodyIdle: the longest pause between two pieces of a request body.
	BodyIdle time.Duration
	// Write: the longest pause in writing the response, counted from the last body
	// read or response write, so it also bounds the work between the end of an upload
	// and its answer (thumbnails of a large photo take seconds).
	Write time.Duration
	// Idle: how long a kept-alive connection waits for its next request.
	Idle time.Duration
}

// serverTimeouts are the gallery's.
var serverTimeouts = httpTimeouts{
	ReadHeader: 5 * time.Second,
	Read:       time.Minute,
	BodyIdle:   time.Minute,
	Write:      2 * time.Minute,
	Idle:       2 * time.Minute,
}

// newHTTPServer is the gallery's public HTTP server on addr, with timeouts t.
func newHTTPServer(addr string, h http.Handler, t httpTimeouts, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           progressDeadlines(h, t),
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests do not inherit the signal context: shutting down must let an
		// upload in progress finish, not cancel it.
		BaseContext: func(net.Listener) context.Context { return context.Background() },
	}
}

// progressDeadlines moves a request's connection deadlines on as its body is read and
// its response written (httpTimeouts).
func progressDeadlines(h http.Handler, t httpTimeouts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &progressBody{ReadCloser: r.Body, rc: rc, t: t}
		} else {
			bodyDone(rc)
		}
		h.ServeHTTP(&progressWriter{ResponseWriter: w, rc: rc, t: t}, r)
	})
}

type progressBody struct {
	io.ReadCloser
	rc *http.ResponseController
	t  httpTimeouts
}

func (b *progressBody) Read(p []byte) (int, error) {
	now := time.Now()
	// Errors mean the connection cannot take deadlines (HTTP/2 in tests): nothing to do.
	_ = b.rc.SetReadDeadline(now.Add(b.t.BodyIdle))
	_ = b.rc.SetWriteDeadline(now.Add(b.t.BodyIdle + b.t.Write))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		bodyDone(b.rc)
	}
	return n, err
}

// bodyDone lifts the read deadline once the request is read: the server's own read
// that watches for the client going away would otherwise hit it and cancel the
// request's context while a long response is still being written (the write deadline
// guards that).
func bodyDone(rc *http.ResponseController) { _ = rc.SetReadDeadline(time.Time{}) }

type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	t  httpTimeouts
}

func (w *progressWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.t.Write))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
