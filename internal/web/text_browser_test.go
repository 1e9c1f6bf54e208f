package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sortographer/sortographer/internal/classify/tesseract"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestBrowserFindsPhotosByTheirWords uploads two photos with writing on them (English
// on one, Korean on the other), lets the worker read them with Tesseract, and finds each
// through the search box by a word in it: the card shows the line the word is on, the
// photo's page shows its words, in English and in Korean.
func TestBrowserFindsPhotosByTheirWords(t *testing.T) {
	reader, err := tesseract.New(tesseract.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	url := startGalleryReading(t, reader)
	receipt, subway := testservers.ReceiptPhoto(t), testservers.SubwayPhoto(t)

	ctx := browser(t)
	pg := page{t, ctx}
	do, text, eval, poll := pg.do, pg.text, pg.evalBool, pollUntil
	do("sign up",
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "words@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
	)
	do("upload", chromedp.SetUploadFiles("#upload-input", []string{receipt, subway}), poll(`document.querySelectorAll("#grid li.card").length === 2`))
	do("both labelled", poll(`document.querySelectorAll('#grid li.card[data-status="labelled"]').length === 2`))

	search := func(q string) {
		t.Helper()
		do("search "+q,
			chromedp.SetValue("#search-input", q),
			chromedp.SendKeys("#search-input", kb.Enter),
			poll(fmt.Sprintf(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === %q && document.querySelectorAll("#grid li.card").length === 1`, q)),
		)
	}
	search("receipt")
	if s := strings.ToLower(text("#grid li.card .snippet")); !strings.Contains(s, "receipt") {
		t.Errorf("the card found by receipt shows %q, want the line with receipt", s)
	}
	do("open the receipt", chromedp.Click("#grid li.card a.thumb"), chromedp.WaitVisible("#image-text"))
	if s := strings.ToLower(text("#image-text")); !strings.Contains(s, "sortographer") || !strings.Contains(s, "total 42") {
		t.Errorf("the photo's page shows the words %q", s)
	}
	// A Korean word with a particle attached would be found too (the store's tests);
	// here the word as written, from a Korean user interface.
	script := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool]("(() => { "+js+"; return true; })()")(ctx, tg)
			return err
		})
	}
	do("switch to Korean",
		script(`const s = document.getElementById("language"); s.value = "ko"; s.dispatchEvent(new Event("change", {bubbles: true}))`),
		poll(`document.documentElement.lang === "ko"`),
	)
	search("서울")
	if s := text("#grid li.card .snippet"); !strings.Contains(s, "서울") {
		t.Errorf("the card found by 서울 shows %q", s)
	}
	if !eval(`document.getElementById("gallery-title").textContent.includes("검색 결과")`) {
		t.Errorf("the title %q is not Korean", text("#gallery-title"))
	}
	// Every term must match: a word of one photo and a word of the other find neither.
	do("search receipt, 서울",
		chromedp.SetValue("#search-input", "receipt, 서울"),
		chromedp.SendKeys("#search-input", kb.Enter),
		poll(`location.pathname === "/search" && !document.getElementById("empty").hidden`),
	)
}
