package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Preflight errors from CheckBucket (and Ping), wrapped.
var (
	ErrBucketNotFound = errors.New("bucket not found")
	ErrAccessDenied   = errors.New("access denied")
)

// Server-side encryption modes, the values of SORTOGRAPHER_S3_SSE.
const (
	SSENone   = ""
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

// S3API is the part of the S3 client that the store uses; *s3.Client implements it.
type S3API interface {
	HeadBucketAPI
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// HeadBucketAPI is what CheckBucket needs; *s3.Client implements it.
type HeadBucketAPI interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

// ClientOptions say how to reach S3.
type ClientOptions struct {
	// Region is the bucket's region. Empty: the AWS_REGION / profile chain decides, and
	// with a custom Endpoint it falls back to us-east-1, which S3-compatible stores accept.
	Region string
	// Endpoint is the base URL of an S3-compatible store (MinIO, Ceph, versitygw).
	// Empty: AWS S3.
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket rather than bucket.endpoint, which
	// most S3-compatible stores need.
	PathStyle bool
}

// NewS3Client builds an S3 client with the standard AWS credential chain (environment,
// shared files, IRSA and EKS Pod Identity web identity, instance roles). Extra load
// options come last, so tests can set static credentials.
func NewS3Client(ctx context.Context, o ClientOptions, extra ...func(*awsconfig.LoadOptions) error) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	opts = append(opts, extra...)
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws configuration: %w", err)
	}
	if cfg.Region == "" {
		if o.Endpoint == "" {
			return nil, errors.New("s3 region not set: set SORTOGRAPHER_S3_REGION or AWS_REGION")
		}
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	}), nil
}

// S3Options say where in S3 the store keeps objects and how they are encrypted.
type S3Options struct {
	Bucket string
	// Prefix is put before every key, so several galleries can share a bucket. A
	// trailing slash is added when missing.
	Prefix string
	// SSE is SSENone (the bucket's default applies), SSEAES256 or SSEKMS.
	SSE string
	// SSEKMSKeyID is the KMS key for SSEKMS. Empty: the account's aws/s3 key.
	SSEKMSKeyID string
}

// S3 stores objects in a bucket, under a prefix.
type S3 struct {
	client S3API
	bucket string
	prefix string
	sse    types.ServerSideEncryption
	kmsKey *string
}

var (
	_ Store  = (*S3)(nil)
	_ Lister = (*S3)(nil)
)

// NewS3 returns a store in opts.Bucket using client.
func NewS3(client S3API, opts S3Options) (*S3, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3 storage: bucket not set")
	}
	s := &S3{client: client, bucket: opts.Bucket}
	if p := strings.Trim(opts.Prefix, "/"); p != "" {
		if err := ValidateKey(p); err != nil {
			return nil, fmt.Errorf("s3 storage: prefix: %w", err)
		}
		s.prefix = p + "/"
	}
	switch opts.SSE {
	case SSENone:
	case SSEAES256:
		s.sse = types.ServerSideEncryptionAes256
	case SSEKMS:
		s.sse = types.ServerSideEncryptionAwsKms
		if opts.SSEKMSKeyID != "" {
			s.kmsKey = aws.String(opts.SSEKMSKeyID)
		}
	default:
		return nil, fmt.Errorf("s3 storage: server-side encryption must be empty, %s or %s, not %q", SSEAES256, SSEKMS, opts.SSE)
	}
	if opts.SSEKMSKeyID != "" && opts.SSE != SSEKMS {
		return nil, fmt.Errorf("s3 storage: a KMS key id needs server-side encryption %s", SSEKMS)
	}
	return s, nil
}

func (s *S3) objectKey(key string) (*string, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return aws.String(s.prefix + key), nil
}

// Put uploads the object in one PutObject request, which S3 applies atomically. The SDK
// signs the body's SHA-256 where TLS does not protect it, which needs a seekable reader:
// pass a *bytes.Reader or an *os.File; any other reader is read into memory first.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	body, n, err := seekable(r, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           k,
		Body:          body,
		ContentLength: aws.Int64(n),
		ContentType:   aws.String(contentType),
	}
	if s.sse != "" {
		in.ServerSideEncryption = s.sse
		in.SSEKMSKeyId = s.kmsKey
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return s.mapError("put", key, err)
	}
	return nil
}

// seekable returns r as a ReadSeeker with the length left in it, checking that length
// against size unless size is -1.
func seekable(r io.Reader, size int64) (io.ReadSeeker, int64, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		cur, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			end, err := rs.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, 0, err
			}
			if _, err := rs.Seek(cur, io.SeekStart); err != nil {
				return nil, 0, err
			}
			n := end - cur
			if size >= 0 && n != size {
				return nil, 0, fmt.Errorf("%w: declared %d bytes, reader holds %d", ErrSizeMismatch, size, n)
			}
			return rs, n, nil
		}
	}
	var b []byte
	var err error
	if size >= 0 {
		b, err = io.ReadAll(io.LimitReader(r, size+1))
	} else {
		b, err = io.ReadAll(r)
	}
	if err != nil {
		return nil, 0, err
	}
	if size >= 0 && int64(len(b)) != size {
		return nil, 0, fmt.Errorf("%w: declared %d bytes, read %d", ErrSizeMismatch, size, len(b))
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// Get streams the object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return nil, Info{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: k})
	if err != nil {
		return nil, Info{}, s.mapError("get", key, err)
	}
	return out.Body, info(key, out.ContentLength, out.ContentType), nil
}

// Head describes the object.
func (s *S3) Head(ctx context.Context, key string) (Info, error) {
	k, err := s.objectKey(key)
	if err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: k})
	if err != nil {
		return Info{}, s.mapError("head", key, err)
	}
	return info(key, out.ContentLength, out.ContentType), nil
}

func info(key string, size *int64, contentType *string) Info {
	i := Info{Key: key, Size: aws.ToInt64(size), ContentType: aws.ToString(contentType)}
	if i.ContentType == "" {
		i.ContentType = DefaultContentType
	}
	return i
}

// Delete removes the object; S3 reports success for a missing key too.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.objectKey(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: k}); err != nil {
		return s.mapError("delete", key, err)
	}
	return nil
}

// List pages through ListObjectsV2 (S3 returns keys in ascending UTF-8 order).
func (s *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s.mapError("list", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if err := fn(Info{Key: key, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Ping checks that the bucket exists and the credentials may use it.
func (s *S3) Ping(ctx context.Context) error { return CheckBucket(ctx, s.client, s.bucket) }

// CheckBucket is a preflight for a bucket: nil when it exists and the credentials reach
// it; otherwise an error wrapping ErrBucketNotFound, ErrAccessDenied, or the cause
// (network, bad endpoint) as it came.
func CheckBucket(ctx context.Context, client HeadBucketAPI, bucket string) error {
	if bucket == "" {
		return errors.New("check bucket: bucket not set")
	}
	_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return nil
	}
	switch code, status := errorCode(err); {
	case code == "NoSuchBucket" || code == "NotFound" || status == http.StatusNotFound:
		return fmt.Errorf("check bucket %s: %w: %w", bucket, ErrBucketNotFound, err)
	case code == "AccessDenied" || code == "Forbidden" || status == http.StatusForbidden:
		return fmt.Errorf("check bucket %s: %w: %w", bucket, ErrAccessDenied, err)
	}
	return fmt.Errorf("check bucket %s: %w", bucket, err)
}

func (s *S3) mapError(op, key string, err error) error {
	var noKey *types.NoSuchKey
	var notFound *types.NotFound
	code, status := errorCode(err)
	switch {
	case code == "NoSuchBucket":
		return fmt.Errorf("%s %s: %w %s: %w", op, key, ErrBucketNotFound, s.bucket, err)
	case errors.As(err, &noKey), errors.As(err, &notFound), code == "NoSuchKey", code == "NotFound",
		status == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
	case code == "AccessDenied", status == http.StatusForbidden:
		return fmt.Errorf("%s %s: %w: %w", op, key, ErrAccessDenied, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// errorCode returns the S3 error code and HTTP status of a failed request, where known.
func errorCode(err error) (string, int) {
	var code string
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var status int
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}
