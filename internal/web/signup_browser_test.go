package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSignUp: the sign-up form asks for 12 characters and says so; a common
// password is refused with the server's reason in the user's language; a new address
// signs up and is signed in; signing up again with a taken address (and another
// password) is answered like a new one by the API, and the app, whose sign-in after it
// fails, says what to do instead of "email taken".
func TestBrowserSignUp(t *testing.T) {
	url := startGallery(t)
	pg := page{t, browser(t)}
	do, eval, poll := pg.do, pg.evalBool, pollUntil
	toastIs := func(text string) chromedp.Action[chromedp.Void] {
		return poll(`!document.getElementById("toast").hidden && document.getElementById("toast").textContent === ` + jsString(text))
	}
	signUpForm := func(email, password string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(url + "/signup"),
			chromedp.WaitVisible("#auth-form"),
			chromedp.SetValue("#email", email),
			chromedp.SetValue("#password", password),
			chromedp.Click("#auth-submit"),
		}
	}

	do("open sign-up", chromedp.Navigate(url+"/signup"), chromedp.WaitVisible("#password-hint"))
	if !eval(`document.getElementById("password").minLength === 12 && document.getElementById("password-hint").textContent === "At least 12 characters, and not a common password."`) {
		t.Error("sign-up form: the password does not ask for 12 characters, or the hint is missing")
	}
	do("a common password", append(signUpForm("new@example.com", "iloveyou123456"),
		toastIs("This is one of the most common passwords: choose another."))...)
	do("sign up", append(signUpForm("taken@example.com", "a long password"), chromedp.WaitVisible("#gallery-view"))...)
	do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#auth-form"))
	do("sign up again with the taken address", append(signUpForm("taken@example.com", "some other password"),
		toastIs("Could not sign you in. If this address already has an account, sign in with its password, or sign up with another address."))...)
	if eval(`document.getElementById("gallery-view").hidden === false`) {
		t.Error("signed in with the wrong password")
	}
	do("open sign-in", chromedp.Navigate(url+"/signin"), chromedp.WaitVisible("#auth-form"))
	if !eval(`document.getElementById("password").minLength === 8 && document.getElementById("password-hint").hidden`) {
		t.Error("sign-in form: existing passwords shorter than 12 characters must still be accepted, without the hint")
	}
}

func jsString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}
