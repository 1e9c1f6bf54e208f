package web_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/testservers"
)

// Dates on a photo's page, as Intl formats them (dateStyle medium, timeStyle short).
var (
	englishDate = regexp.MustCompile(`^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s?[AP]M$`)
	koreanDate  = regexp.MustCompile(`^\d{4}\. \d{1,2}\. \d{1,2}\. (오전|오후) \d{1,2}:\d{2}$`)
)

// TestBrowserLanguages: an English browser gets the app in English, with a search
// hint naming only words the built-in model gives and the user's own labels offered
// while typing; the switch turns it Korean without a reload (the sign-out button, the
// search hint, a photo's status and dates), keeps the choice over a reload, and turns
// it back. A browser whose language is Korean starts in Korean, and shows a photo's
// dates the Korean way.
func TestBrowserLanguages(t *testing.T) {
	labels, err := builtin.LabelsIn(testservers.ModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	examples := builtin.SearchExamples(labels, 3)
	url := startGallery(t, func(d *api.Deps) { d.SearchExamples = examples })
	if _, err := os.Stat(dogPhoto); err != nil {
		t.Fatalf("%v: run hack/install-deps.sh (package darknet)", err)
	}

	ctx := browser(t)
	pg := page{t, ctx}
	do, text, attr, poll := pg.do, pg.text, pg.attr, pollUntil
	eval := func(ctx context.Context, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	// script runs JavaScript as a step.
	script := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool]("(() => { "+js+"; return true; })()")(ctx, tg)
			return err
		})
	}
	// pick chooses a language with the switch, as a user does.
	pick := func(lang string) chromedp.Action[chromedp.Void] {
		return script(`const s = document.getElementById("language"); s.value = "` + lang + `"; s.dispatchEvent(new Event("change", {bubbles: true}))`)
	}

	do("sign up in English",
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
	)
	if got := text("#auth-submit"); got != "Sign up" {
		t.Errorf("sign-up button %q in an English browser, want Sign up", got)
	}
	if got := eval(ctx, `document.documentElement.lang`); got != "en" {
		t.Errorf("<html lang=%q>, want en", got)
	}
	do("sign up",
		chromedp.SendKeys("#email", "languages@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
		chromedp.SetUploadFiles("#upload-input", []string{dogPhoto}),
		chromedp.WaitVisible(`#grid li.card[data-status="labelled"]`),
	)
	hint := attr("#search-input", "placeholder")
	if hint != "Search labels and words: dog, car, animal" {
		t.Errorf("search hint %q, want Search labels and words: dog, car, animal (the built-in model's words)", hint)
	}

	// Typing offers the user's labels that match; the arrow keys and Enter pick one,
	// which searches.
	do("type a label",
		chromedp.SendKeys("#search-input", "bi"),
		chromedp.WaitVisible(`#search-suggestions li[role="option"][data-label="bicycle"]`),
	)
	if got := attr("#search-input", "aria-expanded"); got != "true" {
		t.Errorf("the search box's aria-expanded %q with suggestions open", got)
	}
	if got := eval(ctx, `[...document.querySelectorAll("#search-suggestions li")].map((li) => li.dataset.label).join(",")`); got != "bicycle" {
		t.Errorf("suggestions for bi: %q, want bicycle alone", got)
	}
	do("pick with the keyboard",
		chromedp.SendKeys("#search-input", kb.ArrowDown),
		poll(`document.getElementById("search-input").getAttribute("aria-activedescendant") === "search-option-0"`),
		chromedp.SendKeys("#search-input", kb.Enter),
		poll(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === "bicycle" && document.querySelectorAll("#grid li.card").length === 1`),
	)
	if got := attr("#search-input", "aria-expanded"); got != "false" {
		t.Errorf("the search box's aria-expanded %q after a pick", got)
	}
	// A second label: the first stays, and is not offered again.
	do("type a second label",
		chromedp.SendKeys("#search-input", ", d"),
		chromedp.WaitVisible(`#search-suggestions li[data-label="dog"]`),
	)
	if got := eval(ctx, `[...document.querySelectorAll("#search-suggestions li")].map((li) => li.dataset.label).join(",")`); got != "dog" {
		t.Errorf("suggestions for d after bicycle: %q, want dog", got)
	}
	do("pick with the mouse",
		chromedp.Click(`#search-suggestions li[data-label="dog"]`),
		poll(`location.pathname === "/search" && new URLSearchParams(location.search).get("q") === "bicycle,dog" && document.querySelectorAll("#grid li.card").length === 1`),
	)
	// A broader word is one of the user's labels too; Escape closes the list and keeps
	// the text.
	do("close with Escape",
		chromedp.SendKeys("#search-input", ", veh"),
		chromedp.WaitVisible(`#search-suggestions li[data-label="vehicle"]`),
		chromedp.SendKeys("#search-input", kb.Escape),
		poll(`document.getElementById("search-suggestions").hidden`),
	)
	if got := eval(ctx, `document.getElementById("search-input").value`); got != "bicycle, dog, veh" {
		t.Errorf("the search box holds %q after Escape, want bicycle, dog, veh", got)
	}

	id := attr("#grid li.card", "data-id")
	do("open the photo", chromedp.Navigate(url+"/images/"+id), chromedp.WaitVisible("#image-meta time"))
	if got := text("#image-meta time"); !englishDate.MatchString(got) {
		t.Errorf("upload date %q in English, want it like Dec 6, 2026, 3:04 PM", got)
	}

	// Korean, without a reload: the page the user is on changes at once.
	do("switch to Korean",
		script(`window.notReloaded = true`),
		pick("ko"),
		poll(`document.documentElement.lang === "ko"`),
	)
	if got := eval(ctx, `String(window.notReloaded)`); got != "true" {
		t.Error("switching the language reloaded the page")
	}
	for sel, want := range map[string]string{
		"#signout":              "로그아웃",
		"#image-status":         "분류 완료",
		"#image-delete":         "사진 삭제",
		`nav a[href="/albums"]`: "앨범",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s in Korean: %q, want %q", sel, got, want)
		}
	}
	if got := attr("#search-input", "placeholder"); got != "라벨·글자 검색 (예: dog, car, animal)" {
		t.Errorf("search hint in Korean %q", got)
	}
	if got := text("#image-meta time"); !koreanDate.MatchString(got) {
		t.Errorf("upload date %q in Korean, want it like 2026. 12. 6. 오후 3:04", got)
	}
	if got := text("#image-labels"); !strings.Contains(got, "animal (dog의 상위 라벨)") {
		t.Errorf("labels in Korean %q, want animal (dog의 상위 라벨) among them", got)
	}

	do("reload", chromedp.Reload(), chromedp.WaitVisible("#image-meta time"), poll(`document.documentElement.lang === "ko"`))
	if got := text("#signout"); got != "로그아웃" {
		t.Errorf("after a reload the sign-out button says %q: the choice of Korean was not kept", got)
	}

	do("back to English", pick("en"), poll(`document.documentElement.lang === "en"`))
	if got := text("#signout"); got != "Sign out" {
		t.Errorf("sign-out button %q back in English", got)
	}
	if got := attr("#search-input", "placeholder"); got != hint {
		t.Errorf("search hint %q back in English, want %q", got, hint)
	}
	if got := text("#image-meta time"); !englishDate.MatchString(got) {
		t.Errorf("upload date %q back in English", got)
	}

	// A browser set to Korean starts in Korean.
	korean := browser(t, acceptLanguage("ko-KR,ko"))
	kpg := page{t, korean}
	kpg.do("open in a Korean browser", chromedp.Navigate(url+"/signin"), chromedp.WaitVisible("#auth-form"))
	if got := eval(korean, `document.documentElement.lang + " " + navigator.language`); got != "ko ko-KR" {
		t.Errorf("a Korean browser: <html lang> and navigator.language %q, want ko ko-KR", got)
	}
	if got := kpg.text("#auth-submit"); got != "로그인" {
		t.Errorf("sign-in button %q in a Korean browser, want 로그인", got)
	}
	if got := kpg.text("#auth-title"); got != "로그인" {
		t.Errorf("sign-in title %q in a Korean browser, want 로그인", got)
	}
	if got := eval(korean, `document.getElementById("language").value`); got != "ko" {
		t.Errorf("the language switch shows %q in a Korean browser, want ko", got)
	}
	kpg.do("sign in and open the photo",
		chromedp.SendKeys("#email", "languages@example.com"),
		chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
		chromedp.Navigate(url+"/images/"+id),
		chromedp.WaitVisible("#image-meta time"),
	)
	if got := kpg.text("#image-meta time"); !koreanDate.MatchString(got) {
		t.Errorf("upload date %q in a Korean browser, want it like 2026. 12. 6. 오후 3:04", got)
	}
	if got := kpg.attr("#image-meta time", "datetime"); !strings.HasSuffix(got, "Z") {
		t.Errorf("the date's datetime %q, want the API's UTC timestamp", got)
	}
}
