package testservers

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sortographer/sortographer/internal/config"
)

// S3Server is an S3-compatible server (versitygw with its posix backend) of one test's
// own, listening on a loopback port and storing objects under Dir. It starts in about
// 0.1 s, so every test gets its own.
type S3Server struct {
	// Endpoint is the server's base URL; address it path-style.
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Dir is the posix backend's root: each bucket is a folder in it.
	Dir  string
	proc *process
}

// versitygwEnv names a versitygw binary to use instead of building the pinned one.
const versitygwEnv = "SORTOGRAPHER_VERSITYGW"

// versitygw is the pinned S3 server (hack/s3-server.sh: about two minutes the first
// time; later runs reuse bin/ or the per-user cache).
var versitygw = pinnedTool{script: "s3-server.sh", env: versitygwEnv}

// S3 starts an S3 server for this test and stops it, removing its data, when the test
// ends. It fails the test when the server cannot be built or started; only -short skips.
func S3(t testing.TB) *S3Server {
	t.Helper()
	skipIfShort(t)
	bin, err := versitygw.path()
	if err != nil {
		t.Fatalf("start s3 server: %v", err)
	}
	dir, err := os.MkdirTemp("", "sortographer-s3-")
	if err != nil {
		t.Fatalf("start s3 server: %v", err)
	}
	data := filepath.Join(dir, "data")
	// Versions live beside the data: buckets can then turn versioning on, as the
	// operator's preflight reports.
	versions := filepath.Join(dir, "versions")
	for _, d := range []string{data, versions} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatalf("start s3 server: %v", err)
		}
	}
	s := &S3Server{
		Region:    "us-east-1",
		AccessKey: "AKIASORTOGRAPHERTEST",
		SecretKey: "sortographer-test-secret-key",
		Dir:       data,
	}
	s.proc = &process{name: "versitygw", bin: bin, logPath: filepath.Join(dir, "versitygw.log"), stopSignal: syscall.SIGTERM}
	t.Cleanup(func() {
		s.proc.stop()
		_ = os.RemoveAll(dir)
	})
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("start s3 server: %v", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		s.Endpoint = "http://" + addr
		s.proc.args = []string{
			"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", addr, "--quiet",
			"posix", "--versioning-dir", versions, data,
		}
		if err = s.start(); err == nil {
			return s
		}
		if attempt == startAttempts || !portTaken(s.proc.logPath) {
			t.Fatalf("start s3 server: %v", err)
		}
	}
}

func (s *S3Server) start() error {
	if err := s.proc.start(); err != nil {
		return err
	}
	client := s.Client()
	if err := s.proc.waitReady(func(ctx context.Context) error {
		// No SDK retries: waitReady polls, and the SDK's backoff would only slow it.
		_, err := client.ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		return err
	}); err != nil {
		s.proc.stop()
		return err
	}
	return nil
}

// Client is an S3 client for the server, with its root credentials.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

var bucketCounter atomic.Int64

// Bucket creates a new, empty bucket and returns its name.
func (s *S3Server) Bucket(t testing.TB) string {
	t.Helper()
	name := "test-" + strconv.FormatInt(bucketCounter.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Config is the gallery's storage configuration for a bucket on this server. The
// credentials are not part of it: pass Env to the process, or set them on the client.
func (s *S3Server) Config(bucket string) config.Storage {
	return config.Storage{
		Backend:     config.StorageS3,
		S3Bucket:    bucket,
		S3Region:    s.Region,
		S3Endpoint:  s.Endpoint,
		S3PathStyle: true,
	}
}

// Env is the AWS credential environment for a process using this server.
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
	}
}
