package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAccountSessions: in the browser the session token is out of reach of page
// scripts (no readable cookie, no token in the sign-in answer); the account page lists
// this browser and another device, signs the other out, changes the password (which
// signs out every other session) and signs out everywhere.
func TestBrowserAccountSessions(t *testing.T) {
	url := startGallery(t)
	ctx := browser(t)
	pg := page{t, ctx}
	do, eval, poll := pg.do, pg.evalBool, pollUntil
	evalString := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	const email = "acc@example.com"
	password := "a long password"
	do("sign up",
		chromedp.Navigate(url+"/signup"),
		chromedp.WaitVisible("#auth-form"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", password),
		chromedp.Click("#auth-submit"),
		chromedp.WaitVisible("#gallery-view"),
	)
	if !eval(`document.cookie === ""`) {
		t.Errorf("a page script can read cookies: %q", evalString(`Promise.resolve(document.cookie)`))
	}
	// What a script sees of a sign-in of its own: no token, in the body or a header.
	seen := evalString(`fetch("/api/auth/signin", {method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({email: "` + email + `", password: "` + password + `"})})
		.then(async (r) => JSON.stringify([...r.headers]) + " " + await r.text())`)
	if strings.Contains(seen, `"token"`) || strings.Contains(strings.ToLower(seen), "x-session-token") {
		t.Errorf("a cookie sign-in shows a script the token: %s", seen)
	}

	// Another device: an API client.
	otherDevice := func(pw string) string {
		t.Helper()
		res, err := http.Post(url+"/api/auth/signin", "application/json",
			strings.NewReader(`{"email":"`+email+`","password":"`+pw+`","bearer":true}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var s struct{ Token string }
		if err := json.NewDecoder(res.Body).Decode(&s); err != nil || s.Token == "" {
			t.Fatalf("API sign-in = %d, %v", res.StatusCode, err)
		}
		return s.Token
	}
	works := func(token string) bool {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	other := otherDevice(password)

	// This browser holds two sessions (sign-up, and the script's sign-in, whose cookie
	// replaced the first), and the other device one: three in all, one of them this.
	do("account page", chromedp.Click("#nav-account"), chromedp.WaitVisible("#session-list li"))
	if !eval(`document.querySelectorAll("#session-list li").length === 3`) ||
		!eval(`document.querySelectorAll("#session-list li button.revoke").length === 2`) ||
		!eval(`document.getElementById("session-list").textContent.includes("This browser")`) ||
		!eval(`document.getElementById("session-list").textContent.includes("Go-http-client")`) {
		t.Fatalf("session list: %q", evalString(`Promise.resolve(document.getElementById("session-list").textContent)`))
	}
	do("sign the other device out",
		chromedp.Click(`#session-list li:first-child button.revoke`),
		poll(`document.getElementById("toast").textContent === "Signed out of that session."`),
		poll(`document.querySelectorAll("#session-list li").length === 2`),
	)
	if works(other) {
		t.Error("the other device's session still works after it was signed out from the list")
	}

	other = otherDevice(password)
	do("change the password",
		chromedp.SendKeys("#current-password", password),
		chromedp.SendKeys("#new-password", "another long password"),
		chromedp.Click("#password-submit"),
		poll(`document.getElementById("toast").textContent.startsWith("Password changed")`),
		poll(`document.querySelectorAll("#session-list li").length === 1`),
	)
	if works(other) {
		t.Error("another session survived the password change")
	}
	if eval(`document.getElementById("current-password").value !== ""`) {
		t.Error("the password fields keep the passwords after the change")
	}

	other = otherDevice("another long password")
	do("sign out everywhere",
		chromedp.Navigate(url+"/account"),
		chromedp.WaitVisible("#session-list li"),
		poll(`(window.confirm = () => true) && true`),
		chromedp.Click("#signout-everywhere"),
		chromedp.WaitVisible("#auth-form"),
	)
	if works(other) {
		t.Error("a session survived signing out everywhere")
	}
	if got := evalString(`fetch("/api/me").then((r) => String(r.status))`); got != "401" {
		t.Errorf("the browser after signing out everywhere: /api/me = %s", got)
	}
}
