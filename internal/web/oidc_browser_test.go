package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/oidc"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestBrowserSignInWithOIDC: on a gallery with single sign-on only, the sign-in page
// shows "Sign in with Dex" and no password form; the button takes Chromium to a real
// Dex, whose login form sends it back signed in to the gallery (in Korean too: the
// button's text comes from the catalogue); the admin group at Dex shows the Admin link.
func TestBrowserSignInWithOIDC(t *testing.T) {
	sso := &api.SingleSignOn{ProviderName: "Dex", CreateAccounts: true, LocalPasswords: false}
	url := startGallery(t, func(d *api.Deps) { d.SSO = sso })
	grace := testservers.DexUser{Email: "grace@example.com", Password: "grace's dex password", Name: "Grace Hopper", ID: "grace-1", Groups: []string{"gallery-admins"}}
	dex := testservers.Dex(t, testservers.DexOptions{RedirectURIs: []string{url + oidc.CallbackPath}, Users: []testservers.DexUser{grace}})
	p, err := oidc.New(oidc.Config{
		Issuer: dex.Issuer, ClientID: dex.ClientID, ClientSecret: dex.ClientSecret,
		Scopes:     []string{"openid", "email", "profile", "groups"},
		AdminClaim: "groups", AdminValues: []string{"gallery-admins"},
		HTTPClient: dex.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sso.Provider = p

	// Chromium does not know the test CA that signed Dex's certificate.
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors", true))
	pg := page{t, ctx}
	do, text, eval := pg.do, pg.text, pg.evalBool

	do("open the sign-in page", chromedp.Navigate(url+"/signin"), chromedp.WaitVisible("#sso-button"))
	if got := text("#sso-button"); got != "Sign in with Dex" {
		t.Errorf("the single sign-on button says %q, want %q", got, "Sign in with Dex")
	}
	if !eval(`document.getElementById("auth-form").hidden && document.getElementById("auth-switch").hidden`) {
		t.Error("the password form or the sign-up link shows on a gallery without local passwords")
	}
	do("switch to Korean",
		script(`const s = document.getElementById("language"); s.value = "ko"; s.dispatchEvent(new Event("change", {bubbles: true}))`),
		pollUntil(`document.getElementById("sso-button").textContent === "Dex(으)로 로그인"`))

	do("go to Dex", chromedp.Click("#sso-button"), chromedp.WaitVisible("#login"))
	// Dex's button is pressed from a script: chromedp's Click waits on the navigation it
	// starts from a page whose certificate Chromium was told to ignore, and never returns.
	do("sign in at Dex",
		chromedp.SendKeys("#login", grace.Email),
		chromedp.SendKeys("#password", grace.Password),
		script(`document.getElementById("submit-login").click()`),
		chromedp.WaitVisible("#gallery-view"),
	)
	if !eval(`location.href === "` + url + `/"`) {
		t.Error("after single sign-on the browser is not at the gallery's /")
	}
	do("the admin link shows", pollUntil(`!document.getElementById("nav-admin").hidden`))
	if body := text("#gallery-view"); strings.Contains(body, "error") {
		t.Errorf("the gallery after single sign-on shows %q", body)
	}
}

// script runs JavaScript in the page.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("(() => { "+js+"; return true; })()")(ctx, tg)
		return err
	})
}
