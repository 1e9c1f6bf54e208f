package objects

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sortographer/sortographer/internal/config"

	"github.com/sortographer/sortographer/internal/testservers"
)

func TestS3PrefixIsolation(t *testing.T) {
	t.Parallel()
	srv := testservers.S3(t)
	ctx := context.Background()
	client := srv.Client()
	bucket := srv.Bucket(t)
	a, err := NewS3(client, S3Options{Bucket: bucket, Prefix: "/galleries/a/"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewS3(client, S3Options{Bucket: bucket, Prefix: "galleries/b"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, a, "images/1/2/original", []byte("from a"), "image/png")

	if _, err := b.Head(ctx, "images/1/2/original"); !errors.Is(err, ErrNotFound) {
		t.Errorf("gallery b sees gallery a's object: Head error = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "images/1/2/original"); err != nil {
		t.Fatalf("Delete in gallery b: %v", err)
	}
	if got, _ := get(t, a, "images/1/2/original"); string(got) != "from a" {
		t.Errorf("gallery b's Delete touched gallery a's object: Get = %q", got)
	}

	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if want := []string{"galleries/a/images/1/2/original"}; !slices.Equal(keys, want) {
		t.Errorf("bucket holds %q, want %q", keys, want)
	}
}

// headerRecorder remembers the headers of every PutObject request the SDK sends.
type headerRecorder struct {
	mu   sync.Mutex
	puts []http.Header
}

func (h *headerRecorder) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut {
		h.mu.Lock()
		h.puts = append(h.puts, req.Header.Clone())
		h.mu.Unlock()
	}
	return http.DefaultClient.Do(req)
}

func TestS3ServerSideEncryption(t *testing.T) {
	t.Parallel()
	srv := testservers.S3(t)
	bucket := srv.Bucket(t)
	for _, tc := range []struct {
		name, sse, kmsKey string
		wantHeaders       map[string]string
	}{
		{"none", SSENone, "", map[string]string{
			"X-Amz-Server-Side-Encryption": "", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "",
		}},
		{"aes256", SSEAES256, "", map[string]string{
			"X-Amz-Server-Side-Encryption": "AES256", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "",
		}},
		{"kms-default-key", SSEKMS, "", map[string]string{
			"X-Amz-Server-Side-Encryption": "aws:kms", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "",
		}},
		{"kms-key", SSEKMS, "arn:aws:kms:us-east-1:111122223333:key/1234", map[string]string{
			"X-Amz-Server-Side-Encryption":                "aws:kms",
			"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "arn:aws:kms:us-east-1:111122223333:key/1234",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &headerRecorder{}
			client := s3.New(srv.Client().Options(), func(o *s3.Options) { o.HTTPClient = rec })
			s, err := NewS3(client, S3Options{Bucket: bucket, Prefix: tc.name, SSE: tc.sse, SSEKMSKeyID: tc.kmsKey})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Put(context.Background(), "k", strings.NewReader("data"), 4, "image/png")
			if len(rec.puts) != 1 {
				t.Fatalf("SDK sent %d PUT requests, want 1 (Put error: %v)", len(rec.puts), err)
			}
			for name, want := range tc.wantHeaders {
				if got := rec.puts[0].Get(name); got != want {
					t.Errorf("PUT header %s = %q, want %q", name, got, want)
				}
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got, _ := get(t, s, "k"); string(got) != "data" {
				t.Errorf("Get = %q, want %q", got, "data")
			}
			// versitygw accepts the headers and ignores them, so what the SDK sent, signed,
			// is what there is to check.
		})
	}
}

func TestCheckBucket(t *testing.T) {
	t.Parallel()
	srv := testservers.S3(t)
	ctx := context.Background()
	bucket := srv.Bucket(t)
	wrongSecret := s3.New(srv.Client().Options(), func(o *s3.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(srv.AccessKey, "not-the-secret", "")
	})
	for _, tc := range []struct {
		name    string
		client  HeadBucketAPI
		bucket  string
		wantErr error
	}{
		{"exists", srv.Client(), bucket, nil},
		{"missing", srv.Client(), "no-such-bucket", ErrBucketNotFound},
		{"wrong secret", wrongSecret, bucket, ErrAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBucket(ctx, tc.client, tc.bucket)
			if tc.wantErr == nil && err != nil || !errors.Is(err, tc.wantErr) {
				t.Errorf("CheckBucket = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestS3MissingBucket(t *testing.T) {
	t.Parallel()
	srv := testservers.S3(t)
	ctx := context.Background()
	s, err := NewS3(srv.Client(), S3Options{Bucket: "no-such-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrBucketNotFound) {
		t.Errorf("Ping error = %v, want ErrBucketNotFound", err)
	}
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, ErrBucketNotFound) || errors.Is(err, ErrNotFound) {
		t.Errorf("Get error = %v, want ErrBucketNotFound and not ErrNotFound", err)
	}
	if err := s.Put(ctx, "k", strings.NewReader("x"), 1, ""); !errors.Is(err, ErrBucketNotFound) {
		t.Errorf("Put error = %v, want ErrBucketNotFound", err)
	}
}

func TestNewS3RefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts S3Options
	}{
		{"no bucket", S3Options{}},
		{"unknown sse", S3Options{Bucket: "b", SSE: "aes256"}},
		{"kms key without kms", S3Options{Bucket: "b", SSE: SSEAES256, SSEKMSKeyID: "k"}},
		{"kms key without sse", S3Options{Bucket: "b", SSEKMSKeyID: "k"}},
		{"prefix with dot dot", S3Options{Bucket: "b", Prefix: "a/../b"}},
		{"prefix with space", S3Options{Bucket: "b", Prefix: "my gallery"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewS3(nil, tc.opts); err == nil {
				t.Errorf("NewS3(%+v) succeeded, want an error", tc.opts)
			}
		})
	}
}

// isolateAWSEnv keeps the developer's own AWS settings out of a test.
func isolateAWSEnv(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestNewS3ClientNeedsARegionForAWS(t *testing.T) {
	isolateAWSEnv(t)
	if _, err := NewS3Client(context.Background(), ClientOptions{}); err == nil {
		t.Error("NewS3Client with no region and no endpoint succeeded, want an error")
	}
	c, err := NewS3Client(context.Background(), ClientOptions{Endpoint: "http://127.0.0.1:1", PathStyle: true})
	if err != nil {
		t.Fatalf("NewS3Client with an endpoint: %v", err)
	}
	if o := c.Options(); o.Region != "us-east-1" || !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:1" {
		t.Errorf("client options: region %q, path style %v, endpoint %q", o.Region, o.UsePathStyle, aws.ToString(o.BaseEndpoint))
	}
}

// TestOpenS3 goes the way the gallery binary does: configuration in, credentials from the
// environment (the standard chain), a working store out.
func TestOpenS3(t *testing.T) {
	srv := testservers.S3(t)
	isolateAWSEnv(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	storage := srv.Config(srv.Bucket(t))
	storage.S3Prefix = "g1"
	storage.S3SSE = SSEAES256
	ctx := context.Background()
	s, err := Open(ctx, config.Config{Storage: storage})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	put(t, s, "images/1/2/original", []byte("x"), "image/png")
	if _, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(storage.S3Bucket), Key: aws.String("g1/images/1/2/original")}); err != nil {
		t.Errorf("object not under the configured prefix: %v", err)
	}
}

func TestOpenFilesystem(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), config.Config{DataDir: dir, Storage: config.Storage{Backend: config.StorageFilesystem}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	fs, ok := s.(*Filesystem)
	if !ok || fs.Root() != filepath.Join(dir, "objects") {
		t.Errorf("Open = %T rooted at %v, want a Filesystem at %s", s, fs, filepath.Join(dir, "objects"))
	}
	if _, err := Open(context.Background(), config.Config{Storage: config.Storage{Backend: "ftp"}}); err == nil {
		t.Error("Open with backend ftp succeeded, want an error")
	}
}
