package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserShowsHEIC uploads an iPhone's kind of photo, a HEIC, which Chromium cannot
// display as stored, and sees it whole in the photo's page and through a link to it,
// with the original to download.
func TestBrowserShowsHEIC(t *testing.T) {
	url := startGallery(t)
	ctx := browser(t)
	if _, err := os.Stat(dogPhoto); err != nil {
		t.Fatalf("%v: run hack/install-deps.sh (package darknet)", err)
	}
	enc, err := exec.LookPath("heif-enc")
	if err != nil {
		t.Fatalf("heif-enc not found: run hack/install-deps.sh: %v", err)
	}
	photo := filepath.Join(t.TempDir(), "IMG_0001.HEIC")
	if b, err := exec.Command(enc, "-q", "80", "-o", photo, dogPhoto).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v\n%s", err, b)
	}

	pg := page{t, ctx}
	do, attr, poll := pg.do, pg.attr, pollUntil
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	do("sign up",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "iphone@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
	)
	do("upload the HEIC",
		chromedp.SetUploadFiles("#upload-input", []string{photo}),
		chromedp.WaitVisible("#grid li.card img"),
	)
	id := attr("#grid li.card", "data-id")

	do("open the photo's page",
		chromedp.Navigate(url+"/images/"+id),
		poll(`document.getElementById("image-full").complete && document.getElementById("image-full").naturalWidth > 0`),
	)
	if got := eval(`String(document.getElementById("image-full").naturalWidth) + "×" + document.getElementById("image-full").naturalHeight`); got != "768×576" {
		t.Errorf("the full view shows %s pixels, want the whole 768×576 photo", got)
	}
	if src := eval(`document.getElementById("image-full").src`); !strings.HasSuffix(src, "/api/images/"+id+"/display") {
		t.Errorf("the full view shows %s, want the display route", src)
	}
	// The test means something only if Chromium cannot show the original itself.
	if got := eval(`new Promise((done) => { const i = new Image(); i.onload = () => done("shown"); i.onerror = () => done("broken"); i.src = "/api/images/` + id + `/original"; })`); got != "broken" {
		t.Errorf("Chromium shows the HEIC original (%s): this test no longer proves the display route is needed", got)
	}
	link := eval(`(() => { const a = document.getElementById("image-original"); return a.getAttribute("href") + " " + a.download; })()`)
	if link != "/api/images/"+id+"/original "+id+".heic" {
		t.Errorf("download link %q, want the original, saved as %s.heic", link, id)
	}
	if got := eval(`fetch("/api/images/` + id + `/original").then((r) => r.arrayBuffer()).then((b) => String(b.byteLength))`); got != fileSize(t, photo) {
		t.Errorf("the original is %s bytes, want the upload's %s", got, fileSize(t, photo))
	}

	// Through a link to the photo, opened without a session.
	shareURL := eval(`fetch("/api/shares", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({imageId: "` + id + `"})}).then((r) => r.json()).then((j) => j.url)`)
	visitor, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	page{t, visitor}.do("open the link",
		chromedp.Navigate(url+shareURL),
		poll(`document.querySelector("#shared-grid.single img") !== null`),
		poll(`document.querySelector("#shared-grid img").complete && document.querySelector("#shared-grid img").naturalWidth === 768`),
		poll(`document.querySelector("#shared-grid a.download").download === "`+id+`.heic"`),
	)
}

func fileSize(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(fi.Size(), 10)
}
