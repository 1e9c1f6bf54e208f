package testenv

import (
	"testing"
	"time"
)

// Eventually polls check every 200 ms until it returns nil or the timeout passes, and
// then fails the test with what and check's last error. The end-to-end tests wait on
// clusters with it.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
