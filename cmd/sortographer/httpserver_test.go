package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startHTTPServer serves h as serve does, with timeouts t, on a free local port.
func startHTTPServer(t *testing.T, h http.Handler, tm httpTimeouts) string {
	t.Helper()
	hs := newHTTPServer("127.0.0.1:0", h, tm, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// TestSlowHeadersAreCutOff: a slow-loris client trickling its headers a byte at a
// time is disconnected once the gallery's ReadHeaderTimeout passes, with the real
// timeouts serve uses.
func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := startHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), serverTimeouts)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: gallery\r\n"); err != nil {
		t.Fatal(err)
	}
	// One byte of a never-ending header every 500 ms, until the server hangs up.
	var cut time.Duration
	for i := 0; ; i++ {
		if _, err := io.WriteString(conn, "X"); err != nil {
			cut = time.Since(start)
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := conn.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				cut = time.Since(start) // closed (EOF or reset)
				break
			}
		}
		if time.Since(start) > serverTimeouts.ReadHeader+10*time.Second {
			t.Fatalf("a slow-loris client still connected after %s (ReadHeaderTimeout %s)", time.Since(start), serverTimeouts.ReadHeader)
		}
	}
	if cut < serverTimeouts.ReadHeader-time.Second {
		t.Errorf("cut off after %s, before ReadHeaderTimeout %s", cut, serverTimeouts.ReadHeader)
	}
	if serverTimeouts.ReadHeader > 10*time.Second {
		t.Errorf("ReadHeaderTimeout %s: headers arrive at once from an ingress or browser", serverTimeouts.ReadHeader)
	}
}

// TestSlowBodiesSurviveWhileMoving: with every timeout at 400 ms, an upload that takes
// 2 s but sends something every 100 ms succeeds (no timeout caps a whole upload, which
// may take many minutes on a slow link), and one that stalls longer than the body idle
// timeout is cut off.
func TestSlowBodiesSurviveWhileMoving(t *testing.T) {
	tm := httpTimeouts{ReadHeader: 400 * time.Millisecond, Read: 400 * time.Millisecond, BodyIdle: 400 * time.Millisecond, Write: 400 * time.Millisecond, Idle: time.Second}
	addr := startHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	}), tm)

	send := func(chunks int, gap, stallAfter time.Duration) (string, error) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		size := chunks * 1000
		if _, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: gallery\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"); err != nil {
			return "", err
		}
		begin := time.Now()
		for i := range chunks {
			if stallAfter > 0 && i == chunks/2 {
				time.Sleep(stallAfter)
			}
			if _, err := conn.Write([]byte(strings.Repeat("x", 1000))); err != nil {
				return "", err
			}
			time.Sleep(gap)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return "", errors.New(res.Status + ": " + string(b))
		}
		if took := time.Since(begin); took < 4*tm.Read {
			t.Fatalf("the slow upload took only %s", took)
		}
		return string(b), nil
	}
	got, err := send(20, 100*time.Millisecond, 0)
	if err != nil || got != "20000" {
		t.Errorf("a steady 2 s upload = %q, %v; want all 20000 bytes read", got, err)
	}
	if got, err := send(20, 10*time.Millisecond, time.Second); err == nil {
		t.Errorf("an upload stalled for 1 s (body idle timeout 400 ms) was served: %q", got)
	}
}
