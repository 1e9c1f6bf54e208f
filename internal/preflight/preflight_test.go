package preflight

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

// closedAddress is a loopback address where nothing listens.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// wantReason checks a check's outcome: nil for "", else an error with that reason whose
// message holds each of the fragments.
func wantReason(t *testing.T, name string, err error, reason string, fragments ...string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Errorf("%s: %v (reason %s), want success", name, err, ReasonOf(err))
		}
		return
	}
	if err == nil {
		t.Errorf("%s: succeeded, want %s", name, reason)
		return
	}
	if got := ReasonOf(err); got != reason {
		t.Errorf("%s: reason %s (%v), want %s", name, got, err, reason)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: message %q does not say %q", name, err.Error(), f)
		}
	}
}

func checkContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRedisReasons(t *testing.T) {
	plain := testservers.Redis(t)
	guarded := testservers.RedisWith(t, testservers.RedisOptions{Password: "s3cret-Passw0rd"})
	tlsOnly := testservers.RedisWith(t, testservers.RedisOptions{Password: "s3cret-Passw0rd", TLS: true})
	otherCA := testservers.RedisWith(t, testservers.RedisOptions{TLS: true}).CA()
	for _, tc := range []struct {
		name   string
		redis  config.Redis
		ca     []byte
		reason string
		says   []string
	}{
		{name: "plain", redis: config.Redis{Addr: plain.Addr()}},
		{name: "password", redis: config.Redis{Addr: guarded.Addr(), Password: "s3cret-Passw0rd"}},
		{name: "wrong password", redis: config.Redis{Addr: guarded.Addr(), Password: "wrong"}, reason: galleryv1alpha1.ReasonAuthenticationFailed, says: []string{"refused the credentials"}},
		{name: "no password", redis: config.Redis{Addr: guarded.Addr()}, reason: galleryv1alpha1.ReasonAuthenticationFailed},
		{name: "TLS", redis: config.Redis{Addr: tlsOnly.Addr(), Password: "s3cret-Passw0rd", TLS: true}, ca: tlsOnly.CA()},
		{name: "TLS server, TLS off", redis: config.Redis{Addr: tlsOnly.Addr(), Password: "s3cret-Passw0rd"}, reason: galleryv1alpha1.ReasonTLSMismatch, says: []string{"speaks TLS only", "spec.cache.external.tls"}},
		{name: "plain server, TLS on", redis: config.Redis{Addr: plain.Addr(), TLS: true}, reason: galleryv1alpha1.ReasonTLSMismatch},
		{name: "untrusted certificate", redis: config.Redis{Addr: tlsOnly.Addr(), Password: "s3cret-Passw0rd", TLS: true}, ca: otherCA, reason: galleryv1alpha1.ReasonCertificateRejected},
		{name: "certificate for another name", redis: config.Redis{Addr: tlsOnly.Addr(), Password: "s3cret-Passw0rd", TLS: true, TLSServerName: "cache.example.com"}, ca: tlsOnly.CA(), reason: galleryv1alpha1.ReasonCertificateRejected},
		{name: "nothing listening", redis: config.Redis{Addr: closedAddress(t)}, reason: galleryv1alpha1.ReasonUnreachable},
	} {
		wantReason(t, tc.name, Redis(checkContext(t), tc.redis, tc.ca), tc.reason, tc.says...)
	}
}

func TestDatabaseReasons(t *testing.T) {
	for _, engine := range []struct {
		name          string
		open, openTLS func(testing.TB) testservers.Database
	}{
		{"mariadb", testservers.MariaDB, testservers.MariaDBRequiringTLS},
		{"postgres", testservers.Postgres, testservers.PostgresRequiringTLS},
	} {
		t.Run(engine.name, func(t *testing.T) {
			db, tlsDB := engine.open(t), engine.openTLS(t)
			with := func(d testservers.Database, change func(*config.Database)) config.Database {
				c := d.Config()
				change(&c)
				return c
			}
			for _, tc := range []struct {
				name   string
				db     config.Database
				ca     []byte
				reason string
				says   []string
			}{
				{name: "login", db: db.Config()},
				{name: "wrong password", db: with(db, func(c *config.Database) { c.Password = "wrong" }), reason: galleryv1alpha1.ReasonAuthenticationFailed, says: []string{"refused the user name or password", "127.0.0.1"}},
				{name: "no such database", db: with(db, func(c *config.Database) { c.Name = "test_missing" }), reason: galleryv1alpha1.ReasonNotFound},
				{name: "TLS required, TLS off", db: tlsDB.Config(), reason: galleryv1alpha1.ReasonTLSMismatch, says: []string{"only over TLS", "tlsMode"}},
				{name: "TLS required, wrong password", db: with(tlsDB, func(c *config.Database) { c.TLSMode, c.Password = "require", "wrong" }), reason: galleryv1alpha1.ReasonAuthenticationFailed},
				{name: "TLS required, require", db: with(tlsDB, func(c *config.Database) { c.TLSMode = "require" })},
				{name: "TLS required, verify-full", db: with(tlsDB, func(c *config.Database) { c.TLSMode = "verify-full" }), ca: tlsDB.CA},
				{name: "verify-full without the CA", db: with(tlsDB, func(c *config.Database) { c.TLSMode = "verify-full" }), reason: galleryv1alpha1.ReasonCertificateRejected},
				{name: "reader down", db: with(db, func(c *config.Database) { c.ReaderHosts = []string{closedAddress(t)} }), reason: galleryv1alpha1.ReasonUnreachable},
			} {
				wantReason(t, tc.name, Database(checkContext(t), tc.db, tc.ca), tc.reason, tc.says...)
			}
		})
	}
}

func TestBucketReasons(t *testing.T) {
	srv := testservers.S3(t)
	bucket := srv.Bucket(t)
	right := &aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}
	for _, tc := range []struct {
		name    string
		storage config.Storage
		creds   *aws.Credentials
		reason  string
		says    []string
	}{
		{name: "bucket", storage: srv.Config(bucket), creds: right},
		{name: "no such bucket", storage: srv.Config("test-missing"), creds: right, reason: galleryv1alpha1.ReasonNotFound, says: []string{"test-missing does not exist"}},
		{name: "wrong secret", storage: srv.Config(bucket), creds: &aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: "wrong"}, reason: galleryv1alpha1.ReasonAuthenticationFailed},
		{name: "unknown key", storage: srv.Config(bucket), creds: &aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"}, reason: galleryv1alpha1.ReasonAuthenticationFailed},
		{name: "nothing listening", storage: func() config.Storage {
			s := srv.Config(bucket)
			s.S3Endpoint = "http://" + closedAddress(t)
			return s
		}(), creds: right, reason: galleryv1alpha1.ReasonUnreachable},
	} {
		_, err := Bucket(checkContext(t), tc.storage, tc.creds)
		wantReason(t, tc.name, err, tc.reason, tc.says...)
	}
	// No Secret and nothing in the operator's credential chain: said before anything
	// is sent to S3, not as a missing bucket or an unreachable metadata service.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	_, err := Bucket(checkContext(t), srv.Config(bucket), nil)
	wantReason(t, "no credentials anywhere", err, galleryv1alpha1.ReasonAuthenticationFailed, "found no AWS credentials", "credentialsSecret")
}
