package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/api"
)

// TestOpenAPIDocumentsEveryRoute keeps /api/openapi.json in step with the routes.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	res := g.mustDo(nil, "GET", "/api/openapi.json", nil, http.StatusOK, &doc)
	if res.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("document: %s, openapi %q", res.Header.Get("Content-Type"), doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	routes := append(g.server.RoutePatterns(), "GET /livez", "GET /readyz")
	for _, r := range routes {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
		delete(documented, r)
	}
	for r := range documented {
		t.Errorf("openapi.json documents %s, which is not a route", r)
	}
}

func TestHealth(t *testing.T) {
	var fail error
	g := newGallery(t, sqlite, filesystem, withReady(api.Check{Name: "redis", Ping: func(context.Context) error { return fail }}))
	g.mustDo(nil, "GET", "/livez", nil, http.StatusOK, nil)
	var r struct {
		Status string
		Checks map[string]string
	}
	g.mustDo(nil, "GET", "/readyz", nil, http.StatusOK, &r)
	if r.Status != "ok" || r.Checks["database"] != "ok" || r.Checks["redis"] != "ok" {
		t.Errorf("ready: %+v", r)
	}
	// The error's text is logged, never answered: the probe port is the public one.
	fail = errors.New("dial tcp 10.0.0.7:6379: connect: connection refused (user gallery, password hunter2)")
	res, data := g.do(nil, "GET", "/readyz", nil)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with redis down = %d %s, want 503", res.StatusCode, data)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "unavailable" || r.Checks["redis"] != "unavailable" || r.Checks["database"] != "ok" {
		t.Errorf("redis down: %+v, want status and redis unavailable, database ok", r)
	}
	for _, leak := range []string{"dial tcp", "10.0.0.7", "hunter2", "WRONGPASS"} {
		if strings.Contains(string(data), leak) {
			t.Errorf("readyz answered %s, which holds the error's %q", data, leak)
		}
	}
	if !strings.Contains(g.logs.String(), "dial tcp 10.0.0.7:6379") {
		t.Errorf("the failed check's error is not in the log:\n%s", g.logs.String())
	}
	fail = nil
	g.server.Drain()
	g.mustDo(nil, "GET", "/readyz", nil, http.StatusServiceUnavailable, &r)
	g.mustDo(nil, "GET", "/livez", nil, http.StatusOK, nil)
}

func TestMetrics(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("m")
	u.upload(file{"a.jpg", photo(t, 32, 32, 1)})
	g.do(u, "POST", "/api/images", multipartBody(t, file{"b.txt", []byte("text")}))
	g.mustDo(u, "GET", "/api/images/"+strings.Repeat("f", 32), nil, http.StatusNotFound, nil)
	data := g.metrics()
	for _, want := range []string{
		`sortographer_http_requests_total{code="202",method="POST",route="POST /api/images"} 1`,
		`sortographer_http_requests_total{code="415",method="POST",route="POST /api/images"} 1`,
		// The route, never the id, labels a request.
		`sortographer_http_requests_total{code="404",method="GET",route="GET /api/images/{id}"} 1`,
		`sortographer_http_request_duration_seconds_count{method="POST",route="POST /api/auth/signup"} 1`,
		`sortographer_uploads_total{result="accepted"} 1`,
		`sortographer_uploads_total{result="rejected"} 1`,
		`sortographer_queue_depth 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(data, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestLogs: one JSON line per request with its id, and never a password or token.
func TestLogs(t *testing.T) {
	g := newGallery(t, sqlite, filesystem)
	u := g.signUp("logged")
	req, _ := http.NewRequest("GET", g.url+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set(api.RequestIDHeader, "trace-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get(api.RequestIDHeader) != "trace-123" {
		t.Errorf("request id not echoed: %q", res.Header.Get(api.RequestIDHeader))
	}
	req.Header.Set(api.RequestIDHeader, "bad id {\"injected\": true}")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(res.Header.Get(api.RequestIDHeader)) {
		t.Errorf("unsafe request id kept: %q", res.Header.Get(api.RequestIDHeader))
	}

	logs := g.logs.String()
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if l["requestId"] == "trace-123" && l["route"] == "GET /api/me" && l["status"] == float64(200) && l["userId"] == float64(u.id) {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line for the request:\n%s", logs)
	}
	for _, secret := range []string{u.token, passwordOf("logged"), string(jwtKey)} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q", secret)
		}
	}
}
