package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/store"
)

// TestBrowserQuotaAndAccountAdministration: a user sees their usage of the quota
// above the gallery and is told when it is full; an admin sees the accounts, disables
// one, after which its sign-in is refused with the reason, and deletes it; a user's
// account page shows the quota and offers deletion.
func TestBrowserQuotaAndAccountAdministration(t *testing.T) {
	one := int64(1)
	url := startGallery(t, func(d *api.Deps) {
		d.Admins = []string{"admin@example.com"}
		d.Quota = store.Quota{Photos: &one}
	})
	ctx := browser(t)
	pg := page{t, ctx}
	do, text, eval, poll := pg.do, pg.text, pg.evalBool, pollUntil
	auth := func(mode, email string) {
		t.Helper()
		do(mode+" "+email,
			chromedp.Navigate(url+"/"+mode),
			chromedp.WaitVisible("#auth-form"),
			chromedp.SendKeys("#email", email),
			chromedp.SendKeys("#password", "a long password"),
			chromedp.Click("#auth-submit"),
			chromedp.WaitVisible("#gallery-view"),
		)
	}

	auth("signup", "ann@example.com")
	do("quota shown", poll(`document.getElementById("quota").textContent.includes("0 of 1 photos")`))
	do("upload to the quota",
		chromedp.SetUploadFiles("#upload-input", []string{dogPhoto}),
		chromedp.WaitVisible(`#grid li.card`),
		poll(`document.getElementById("quota").textContent.includes("1 of 1 photos")`),
	)
	if q := text("#quota"); !strings.Contains(q, "your storage is full") {
		t.Errorf("a full quota reads %q", q)
	}
	do("account page", chromedp.Navigate(url+"/account"), chromedp.WaitVisible("#account-delete-form"),
		poll(`document.getElementById("account-quota").textContent.includes("1 of 1 photos")`))
	do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#auth-form"))

	auth("signup", "admin@example.com")
	do("accounts listed", chromedp.Click("#nav-admin"),
		poll(`[...document.querySelectorAll("#admin-user-rows tr")].some((r) => r.textContent.includes("ann@example.com"))`))
	row := `[...document.querySelectorAll("#admin-user-rows tr")].find((r) => r.textContent.includes("ann@example.com"))`
	if !eval(row + `.textContent.includes("1 of 1 photos")`) {
		t.Errorf("ann's row reads %q", text("#admin-user-rows"))
	}
	if eval(`[...document.querySelectorAll("#admin-user-rows tr")].find((r) => r.textContent.includes("admin@example.com")).querySelector("button.danger") !== null`) {
		t.Error("the admin is offered to delete their own account from the list")
	}
	do("disable ann",
		poll(`(`+row+`.querySelectorAll("button")[0].click(), true)`),
		poll(row+` && `+row+`.textContent.includes("disabled")`),
	)
	do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#auth-form"))
	do("ann's sign-in refused",
		chromedp.Navigate(url+"/signin"), chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "ann@example.com"), chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"),
		poll(`document.getElementById("toast").textContent === "This account has been disabled by an admin."`),
	)

	do("sign in as admin", chromedp.Navigate(url+"/signin"), chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", "admin@example.com"), chromedp.SendKeys("#password", "a long password"),
		chromedp.Click("#auth-submit"), chromedp.WaitVisible("#gallery-view"))
	do("delete ann",
		chromedp.Click("#nav-admin"),
		poll(row+` !== undefined`),
		poll(`(window.confirm = () => true, `+row+`.querySelector("button.danger").click(), true)`),
		poll(`document.getElementById("toast").textContent === "ann@example.com is being deleted."`),
	)
}
