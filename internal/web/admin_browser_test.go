package web_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sortographer/sortographer/internal/api"
)

// TestBrowserAdminDuplicatesReclassify: an admin sees the Admin link and the totals
// page; uploading the same photo again says it is already there and adds no card;
// "Classify again" is offered on a labelled photo; a user without the admin role sees
// neither the link nor the page.
func TestBrowserAdminDuplicatesReclassify(t *testing.T) {
	url := startGallery(t, func(d *api.Deps) { d.Admins = []string{"admin@example.com"} })
	ctx := browser(t)
	if _, err := os.Stat(dogPhoto); err != nil {
		t.Fatalf("%v: run hack/install-deps.sh (package darknet)", err)
	}
	pg := page{t, ctx}
	do, text, eval, poll := pg.do, pg.text, pg.evalBool, pollUntil
	signUp := func(email string) {
		t.Helper()
		do("sign up "+email,
			chromedp.Navigate(url+"/signup"),
			chromedp.WaitVisible("#auth-form"),
			chromedp.SendKeys("#email", email),
			chromedp.SendKeys("#password", "a long password"),
			chromedp.Click("#auth-submit"),
			chromedp.WaitVisible("#gallery-view"),
		)
	}

	signUp("admin@example.com")
	if eval(`document.getElementById("nav-admin").hidden`) {
		t.Error("an admin does not see the Admin link")
	}
	do("upload", chromedp.SetUploadFiles("#upload-input", []string{dogPhoto}), chromedp.WaitVisible(`#grid li.card[data-status="labelled"]`))
	do("upload again",
		chromedp.SetUploadFiles("#upload-input", []string{dogPhoto}),
		poll(`document.getElementById("toast").textContent === "Already in your gallery"`),
	)
	if n := text("#grid"); eval(`document.querySelectorAll("#grid li.card").length !== 1`) {
		t.Errorf("after a duplicate upload the grid shows %q, want one card", n)
	}
	do("open the photo", chromedp.Click("#grid li.card a.thumb"), chromedp.WaitVisible("#image-reclassify"))
	do("classify again",
		chromedp.Click("#image-reclassify"),
		poll(`document.getElementById("toast").textContent.startsWith("Queued for classification again")`),
	)

	do("admin page", chromedp.Click("#nav-admin"), chromedp.WaitVisible("#admin-totals dd"))
	totals := text("#admin-totals")
	for _, want := range []string{"Users", "Photos", "Dead letters", "Reclassification pending"} {
		if !strings.Contains(totals, want) {
			t.Errorf("admin totals %q lack %q", totals, want)
		}
	}
	if eval(`document.documentElement.scrollWidth > window.innerWidth`) {
		t.Error("the admin page scrolls sideways")
	}

	do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#auth-form"))
	signUp("someone@example.com")
	if !eval(`document.getElementById("nav-admin").hidden`) {
		t.Error("a user without the admin role sees the Admin link")
	}
	do("admin page as a user", chromedp.Navigate(url+"/admin"), chromedp.WaitVisible("#notfound-view"))
}
