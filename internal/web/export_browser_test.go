package web_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserExportsData: a signed-in user sees "Export my data", a download link to
// GET /api/me/export, and what the link fetches with the page's session cookie is the
// zip of their photos (at least the photo they uploaded, stored uncompressed).
func TestBrowserExportsData(t *testing.T) {
	url := startGallery(t)
	ctx := browser(t)
	info, err := os.Stat(dogPhoto)
	if err != nil {
		t.Fatalf("%v: run hack/install-deps.sh (package darknet)", err)
	}
	pg := page{t, ctx}
	do, eval, poll := pg.do, pg.evalBool, pollUntil
	do("sign up",
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "exporter@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
	)
	do("upload", chromedp.SetUploadFiles("#upload-input", []string{dogPhoto}), chromedp.WaitVisible(`#grid li.card`))
	if got := pg.text("#nav-export"); got != "Export my data" {
		t.Errorf("export link reads %q", got)
	}
	if href := pg.attr("#nav-export", "href"); href != "/api/me/export" || !eval(`document.getElementById("nav-export").hasAttribute("download")`) {
		t.Errorf("export link: href %q, download attribute %v", href, eval(`document.getElementById("nav-export").hasAttribute("download")`))
	}
	eval(`(window.exported = null, fetch(document.getElementById("nav-export").href).then(async (r) => {
		const b = new Uint8Array(await r.arrayBuffer());
		window.exported = {status: r.status, type: r.headers.get("Content-Type"), zip: b[0] === 0x50 && b[1] === 0x4b, size: b.length};
	}), true)`)
	do("fetch the export", poll(`window.exported !== null`))
	if !eval(`window.exported.status === 200 && window.exported.type === "application/zip" && window.exported.zip && window.exported.size > ` + strconv.FormatInt(info.Size(), 10)) {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.exported)`))
		t.Errorf("the export link fetched %s, want a 200 application/zip larger than the %d-byte photo", got, info.Size())
	}
}
