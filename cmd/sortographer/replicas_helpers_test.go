package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

// replicatedConfig migrates rep's primary and returns the configuration the operator
// gives a gallery pod for an external database with one reader, plus extra variables.
func replicatedConfig(t *testing.T, rep *testservers.Replicated, extra ...string) config.Config {
	t.Helper()
	db := rep.Primary
	migrated, err := store.Open(context.Background(), db.Config(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrated.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = migrated.Close()
	return testConfig(t, append([]string{
		config.EnvDatabaseDriver + "=" + db.Driver,
		config.EnvDatabaseHost + "=" + db.Host,
		config.EnvDatabasePort + "=" + strconv.Itoa(db.Port),
		config.EnvDatabaseName + "=" + db.Name,
		config.EnvDatabaseUser + "=" + db.User,
		config.EnvDatabasePassword + "=" + db.Password,
		config.EnvDatabaseReaderHosts + "=" + rep.ReaderHost(),
	}, extra...)...)
}

// signUpAt signs a new user up at base and returns a caller of the API as that user:
// it fails the test on any answer of 300 or above and returns the body.
func signUpAt(t *testing.T, base, email string) func(method, path string, r io.Reader, contentType string) []byte {
	t.Helper()
	return apiCaller(t, base, signUpToken(t, base, email))
}

// apiCaller calls the API at base with a session token: it fails the test on any
// answer of 300 or above and returns the body.
func apiCaller(t *testing.T, base, token string) func(method, path string, r io.Reader, contentType string) []byte {
	return func(method, path string, r io.Reader, contentType string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, res.StatusCode, b)
		}
		return b
	}
}
