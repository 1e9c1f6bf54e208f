package web_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAlbumsAndSharing makes an album, adds a photo to it from the photo's page,
// shares the album and opens the link in a fresh browser context (no session), on a
// phone-sized screen; then revokes the link and sees it stop.
func TestBrowserAlbumsAndSharing(t *testing.T) {
	url := startGallery(t)
	owner := browser(t)
	if _, err := os.Stat(dogPhoto); err != nil {
		t.Fatalf("%v: run hack/install-deps.sh (package darknet)", err)
	}
	do := func(ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		page{t, ctx}.do(step, actions...)
	}
	eval := func(ctx context.Context, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	poll := pollUntil
	phone := chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile)
	noSidewaysScroll := func(ctx context.Context, page string) {
		t.Helper()
		if eval(ctx, `String(document.documentElement.scrollWidth > window.innerWidth)`) != "false" {
			t.Errorf("%s scrolls sideways on a phone-sized screen", page)
		}
	}

	do(owner, "sign up", phone,
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "sharer@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
	)
	do(owner, "upload", chromedp.SetUploadFiles("#upload-input", []string{dogPhoto}), chromedp.WaitVisible("#grid li.card img"))
	imageID := eval(owner, `document.querySelector("#grid li.card").dataset.id`)

	do(owner, "create album",
		chromedp.Click(`nav a[href="/albums"]`),
		chromedp.WaitVisible("#album-create"),
		chromedp.SendKeys("#album-name", "Walks with the dog"),
		chromedp.Click("#album-create button"),
		poll(`location.pathname.startsWith("/albums/") && document.getElementById("album-title").textContent === "Walks with the dog"`),
		chromedp.WaitVisible("#album-empty"),
	)
	albumPath := eval(owner, `location.pathname`)
	albumID := strings.TrimPrefix(albumPath, "/albums/")

	do(owner, "add the photo from its page",
		chromedp.Navigate(url+"/images/"+imageID),
		chromedp.WaitVisible("#image-album-form"),
		poll(`[...document.querySelectorAll("#image-album option")].some((o) => o.value === "`+albumID+`")`),
		chromedp.SetValue("#image-album", albumID),
		chromedp.Click("#image-album-form button"),
		poll(`document.getElementById("toast").textContent.startsWith("Added to")`),
	)
	noSidewaysScroll(owner, "the image page")

	do(owner, "open the album",
		chromedp.Navigate(url+albumPath),
		poll(`document.querySelectorAll("#album-grid li.card[data-id='`+imageID+`'] img").length === 1`),
	)
	noSidewaysScroll(owner, "the album page")
	do(owner, "share the album",
		chromedp.Click("#album-share .share-create"),
		chromedp.WaitVisible("#album-share .share-url"),
	)
	link := eval(owner, `document.querySelector("#album-share .share-url").value`)
	if !strings.HasPrefix(link, url+"/s/") || len(link) != len(url+"/s/")+43 {
		t.Fatalf("share link %q, want %s/s/ and a 43-character token", link, url)
	}
	noSidewaysScroll(owner, "the album page with a link")

	do(owner, "albums page",
		chromedp.Navigate(url+"/albums"),
		poll(`document.getElementById("album-list").textContent.includes("Walks with the dog (1)")`),
	)
	do(owner, "links page", chromedp.Navigate(url+"/shares"), chromedp.WaitVisible("#share-list li"))
	if got := eval(owner, `document.getElementById("share-list").textContent`); !strings.Contains(got, "Walks with the dog") || strings.Contains(got, link[len(link)-43:]) {
		t.Errorf("links page %q: want the album, and never the token", got)
	}

	// A fresh browser context: no cookies, no session.
	visitor, cancel := chromedp.NewContext(owner, chromedp.WithNewBrowserContext())
	defer cancel()
	do(visitor, "open the link", phone,
		chromedp.Navigate(link),
		poll(`document.getElementById("shared-title").textContent === "Walks with the dog" && document.querySelectorAll("#shared-grid li.card").length === 1`),
		poll(`document.querySelector("#shared-grid img").complete && document.querySelector("#shared-grid img").naturalWidth > 0`),
	)
	if got := eval(visitor, `document.querySelector("#shared-grid li.card").dataset.id`); got != imageID {
		t.Errorf("shared page shows image %q, want %q", got, imageID)
	}
	if got := eval(visitor, `fetch("/api/me").then((r) => String(r.status))`); got != "401" {
		t.Errorf("the visitor's /api/me = %s, want 401: the context is not fresh", got)
	}
	if got := eval(visitor, `document.body.innerText`); strings.Contains(got, "sharer@example.com") || strings.Contains(got, "Sign out") {
		t.Errorf("the shared page shows the owner's account: %q", got)
	}
	noSidewaysScroll(visitor, "the shared page")

	// A link to the photo alone, with no expiry, shows it whole.
	do(owner, "share the photo",
		chromedp.Navigate(url+"/images/"+imageID),
		chromedp.WaitVisible("#image-share .share-create"),
		chromedp.SetValue("#image-share select", "0"),
		chromedp.Click("#image-share .share-create"),
		chromedp.WaitVisible("#image-share .share-url"),
	)
	photoLink := eval(owner, `document.querySelector("#image-share .share-url").value`)
	do(visitor, "open the photo link",
		chromedp.Navigate(photoLink),
		poll(`document.getElementById("shared-title").textContent === "Shared photo" && document.querySelector("#shared-grid.single img") !== null`),
		poll(`document.querySelector("#shared-grid img").complete && document.querySelector("#shared-grid img").naturalWidth === 768`),
	)
	noSidewaysScroll(visitor, "the shared photo")

	// Revoked: the link stops at once.
	status := eval(owner, `fetch("/api/shares").then((r) => r.json()).then((j) => fetch("/api/shares/" + j.shares.find((s) => s.kind === "album").id, {method: "DELETE"})).then((r) => String(r.status))`)
	if status != "204" {
		t.Fatalf("revoke = %s, want 204", status)
	}
	do(visitor, "open the revoked link", chromedp.Navigate(link), chromedp.WaitVisible("#shared-gone"))
	if n := eval(visitor, `String(document.querySelectorAll("#shared-grid li").length)`); n != "0" {
		t.Errorf("the revoked link still shows %s photos", n)
	}
}
