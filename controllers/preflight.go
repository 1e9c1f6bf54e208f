package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Preflighter checks, from the operator, that a Gallery's external dependencies answer:
// an unreachable RDS endpoint or a missing bucket shows as a condition on the Gallery
// instead of as crash-looping pods.
type Preflighter interface {
	// Reachable dials host:port.
	Reachable(ctx context.Context, address string) error
	// BucketReachable sends HeadBucket for the Gallery's bucket, then reads its
	// versioning: Enabled, Suspended, "" (never turned on) or, when the operator may not
	// read it, "unknown (<reason>)". creds, when not nil, are static credentials
	// (S3-compatible stores); otherwise the operator's credential chain is used (IRSA /
	// Pod Identity on the operator's ServiceAccount).
	BucketReachable(ctx context.Context, s *galleryv1alpha1.S3StorageSpec, creds *aws.Credentials) (versioning string, err error)
}

// NetPreflighter is the real Preflighter.
type NetPreflighter struct {
	// Timeout bounds each check. Default 3s.
	Timeout time.Duration
}

func (p NetPreflighter) timeout() time.Duration {
	if p.Timeout <= 0 {
		return 3 * time.Second
	}
	return p.Timeout
}

// Reachable dials address over TCP.
func (p NetPreflighter) Reachable(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	return conn.Close()
}

// BucketReachable sends HeadBucket and GetBucketVersioning through aws-sdk-go-v2.
func (p NetPreflighter) BucketReachable(ctx context.Context, s *galleryv1alpha1.S3StorageSpec, creds *aws.Credentials) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRetryMaxAttempts(1)}
	if s.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.Region))
	}
	if creds != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: *creds}))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.ForcePathStyle
	})
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		return "", fmt.Errorf("head bucket %s: %w", s.Bucket, err)
	}
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(s.Bucket)})
	if err != nil {
		// Reading versioning needs s3:GetBucketVersioning, which the photo role may
		// lack: the bucket still works.
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return "unknown (" + ae.ErrorCode() + ")", nil
		}
		return "unknown", nil
	}
	return string(v.Status), nil
}

// preflightResult is what the checks found; nil fields were not checked.
type preflightResult struct {
	cache, database, storage error
	// versioning is the photo bucket's versioning status (see BucketReachable).
	versioning string
	checked    bool
}

// preflightRetry is how soon a failed check is tried again.
const preflightRetry = 30 * time.Second

func (r *GalleryReconciler) reconcilePreflight(ctx context.Context, st *reconcileState) error {
	if r.Preflight == nil {
		return nil
	}
	g := st.gallery
	res := preflightResult{checked: true}
	if e := g.Spec.Cache.External; e != nil {
		res.cache = r.Preflight.Reachable(ctx, e.Address)
	}
	if e := g.Spec.Database.External; e != nil {
		port := strconv.Itoa(int(g.DatabasePort()))
		var errs []error
		for _, h := range append([]string{e.Host}, e.ReaderHosts...) {
			errs = append(errs, r.Preflight.Reachable(ctx, net.JoinHostPort(h, port)))
		}
		res.database = errors.Join(errs...)
	}
	if s := g.Spec.Storage.S3; s != nil {
		creds, err := r.s3Credentials(ctx, g)
		if err != nil {
			res.storage = err
		} else {
			res.versioning, res.storage = r.Preflight.BucketReachable(ctx, s, creds)
		}
	}
	st.preflight = res
	if res.cache != nil || res.database != nil || res.storage != nil {
		st.requeueSoon(preflightRetry)
	}
	return nil
}

func (r *GalleryReconciler) s3Credentials(ctx context.Context, g *galleryv1alpha1.Gallery) (*aws.Credentials, error) {
	name := g.Spec.Storage.S3.CredentialsSecret
	if name == "" {
		return nil, nil
	}
	var s corev1.Secret
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("read S3 credentials secret %s: %w", name, err)
	}
	return &aws.Credentials{AccessKeyID: string(s.Data["accessKeyId"]), SecretAccessKey: string(s.Data["secretAccessKey"])}, nil
}
