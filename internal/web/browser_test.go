package web_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
	"github.com/sortographer/sortographer/internal/web"
	"github.com/sortographer/sortographer/internal/worker"
)

// realClassifier is the built-in model, from the files hack/model.sh fetches.
func realClassifier(t *testing.T) classify.Classifier {
	t.Helper()
	c, err := builtin.New(config.Workers{ModelDir: testservers.ModelDir(t), BuiltinMinScore: 30})
	if err != nil {
		t.Fatalf("load the built-in model: %v", err)
	}
	return c
}

// startGallery runs the whole app on loopback: API, web UI, SQLite, files on disk, the
// in-memory queue and the real worker with the built-in model. opts change the server's
// dependencies.
func startGallery(t *testing.T, opts ...func(*api.Deps)) string {
	t.Helper()
	return startGalleryReading(t, nil, opts...)
}

// startGalleryReading is startGallery with a text reader in the worker (nil: none).
func startGalleryReading(t *testing.T, reader classify.TextReader, opts ...func(*api.Deps)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	cfg, err := config.Load([]string{config.EnvDataDir + "=" + dir, config.EnvShutdownGrace + "=2s"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.Database, cfg.SQLiteFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	obj, err := objects.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sessions.New(st, sessions.Options{Key: []byte(strings.Repeat("k", 32)), Lifetime: time.Hour, RememberLifetime: 24 * time.Hour, MaxLifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	q := queue.NewMemory(queue.Options{})
	deps := api.Deps{
		Store: st, Objects: obj, Queue: q, Sessions: sm, Log: log, Registry: prometheus.NewRegistry(),
		UI: web.Handler(), MaxUploadBytes: cfg.MaxUploadBytes, AllowSignUp: true,
	}
	for _, o := range opts {
		o(&deps)
	}
	srv := api.New(deps)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := worker.Run(ctx, worker.Deps{Config: cfg, Store: st, Objects: obj, Queue: q, Classifier: realClassifier(t), TextReader: reader, Logger: log}); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		_ = st.Close()
	})
	return hs.URL
}

// browser starts headless Chromium with a fresh profile, confined to loopback; opts
// add to its flags (acceptLanguage).
func browser(t *testing.T, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found on PATH: run hack/install-deps.sh (it installs Debian's chromium)")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Every host name but the loopback address fails to resolve: the test never
		// leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
	}, opts...)...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// acceptLanguage gives the browser these languages (navigator.languages and the
// Accept-Language header), as a user's settings do; without it Chromium says en-US.
func acceptLanguage(langs string) chromedp.ExecAllocatorOption {
	return chromedp.Flag("accept-lang", langs)
}

// dogPhoto is a real photo that Debian's darknet package ships: a dog beside a bicycle.
const dogPhoto = "/usr/share/darknet/data/dog.jpg"

// page drives one browser tab; every helper fails the test on error.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", step, err)
	}
}

func (p page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(sel))
	if err != nil {
		p.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func (p page) attr(sel, name string) string {
	p.t.Helper()
	a, err := chromedp.Run(p.ctx, chromedp.AttributeValue(sel, name))
	if err != nil {
		p.t.Fatalf("read %s[%s]: %v", sel, name, err)
	}
	return a.Value
}

func (p page) evalBool(expr string) bool {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// pollUntil waits until the JavaScript expression is true.
func pollUntil(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// TestBrowser signs up, uploads a photo, sees it queued and then labelled, searches by
// a label, and follows deep links, on a phone-sized screen.
func TestBrowser(t *testing.T) {
	url := startGallery(t)
	ctx := browser(t)
	photo := dogPhoto
	if _, err := os.Stat(photo); err != nil {
		t.Fatalf("%v: run hack/install-deps.sh (package darknet)", err)
	}

	pg := page{t, ctx}
	do, text, attr, eval, poll := pg.do, pg.text, pg.attr, pg.evalBool, pollUntil

	do("sign up",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "browser@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
	)
	do("upload",
		chromedp.SetUploadFiles("#upload-input", []string{photo}),
		chromedp.WaitVisible("#grid li.card img"),
	)
	if status := attr("#grid li.card", "data-status"); status != "queued" && status != "labelled" {
		t.Errorf("new card's status %q, want queued (or, if the worker was quick, labelled)", status)
	}
	id := attr("#grid li.card", "data-id")
	// The grid refreshes while a photo waits, until the worker has labelled it.
	do("wait for labels", chromedp.WaitVisible(`#grid li.card[data-status="labelled"] .labels li`))
	if l := text("#grid li.card .labels"); !strings.Contains(l, "dog") || !strings.Contains(l, "bicycle") {
		t.Errorf("card labels %q, want dog and bicycle", l)
	} else if strings.Contains(l, "animal") || strings.Contains(l, "vehicle") {
		t.Errorf("card labels %q show a derived label; cards show what the model saw", l)
	}

	// Search with the search box: a label it has, then one it has not.
	do("search dog",
		chromedp.SetValue("#search-input", "dog"),
		chromedp.SendKeys("#search-input", kb.Enter),
		poll(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === "dog" && document.querySelectorAll("#grid li.card").length === 1`),
	)
	do("search cat",
		chromedp.SetValue("#search-input", "cat"),
		chromedp.SendKeys("#search-input", kb.Enter),
		poll(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === "cat" && !document.getElementById("empty").hidden`),
	)
	if eval(`document.querySelectorAll("#grid li.card").length > 0`) {
		t.Error("search for cat shows photos")
	}

	// Deep links load the app: an image page and label pages, straight from the URL.
	do("open image page", chromedp.Navigate(url+"/images/"+id), chromedp.WaitVisible("#image-labels li"))
	if l := text("#image-labels"); !strings.Contains(l, "dog") || !strings.Contains(l, "%") {
		t.Errorf("image page labels %q", l)
	}
	// The broader words of what the model saw follow, each saying where it comes from,
	// and a search for one finds the photo.
	if l := text("#image-labels"); !strings.Contains(l, "animal (from dog)") {
		t.Errorf("image page labels %q, want animal (from dog) among them", l)
	}
	if !eval(`[...document.querySelectorAll("#image-labels li.derived")].some((li) => li.textContent === "animal (from dog)")`) {
		t.Error("animal (from dog) is not shown as a derived label")
	}
	do("search animal",
		chromedp.SetValue("#search-input", "animal"),
		chromedp.SendKeys("#search-input", kb.Enter),
		poll(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === "animal" && document.querySelectorAll("#grid li.card").length === 1`),
	)
	if eval(`document.documentElement.scrollWidth > window.innerWidth`) {
		t.Error("the image page scrolls sideways on a phone-sized screen")
	}
	do("open label page", chromedp.Navigate(url+"/labels/bicycle"), poll(`document.querySelectorAll("#grid li.card").length === 1`))
	do("open label list", chromedp.Navigate(url+"/labels"), chromedp.WaitVisible("#label-list li"))
	if l := text("#label-list"); !strings.Contains(l, "bicycle (1)") || !strings.Contains(l, "dog (1)") {
		t.Errorf("label list %q", l)
	}
	if eval(`document.documentElement.scrollWidth > window.innerWidth`) {
		t.Error("the label list scrolls sideways on a phone-sized screen")
	}
}
