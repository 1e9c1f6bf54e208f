package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// Bucket sends HeadBucket for s's bucket, then reads its versioning: Enabled,
// Suspended, "" (never turned on) or, when the credentials may not read it,
// "unknown (<code>)". creds, when not nil, are static credentials (S3-compatible
// stores); otherwise the standard chain is used (IRSA / Pod Identity on the operator's
// ServiceAccount).
func Bucket(ctx context.Context, s config.Storage, creds *aws.Credentials) (versioning string, err error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRetryMaxAttempts(1)}
	if s.S3Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.S3Region))
	}
	if creds != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: *creds}))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", fail(galleryv1alpha1.ReasonCheckFailed, fmt.Errorf("load AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(s.S3Endpoint)
		}
		o.UsePathStyle = s.S3PathStyle
	})
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.S3Bucket)}); err != nil {
		return "", bucketFailure(ctx, c, s.S3Bucket, err)
	}
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(s.S3Bucket)})
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

// bucketFailure names why HeadBucket failed. HeadBucket's answers have no body, so a
// 403 says nothing of whether the key is unknown, the signature wrong or the policy
// closed: one ListObjectsV2 of a single key asks again and gets the error code.
func bucketFailure(ctx context.Context, c *s3.Client, bucket string, err error) error {
	wrapped := fmt.Errorf("head bucket %s: %w", bucket, err)
	if reason, ok := transportReason(err); ok {
		return fail(reason, wrapped)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		// The SDK found no credentials, or could not sign: nothing was sent.
		return fail(galleryv1alpha1.ReasonAuthenticationFailed, wrapped)
	}
	switch re.HTTPStatusCode() {
	case http.StatusMovedPermanently:
		return failf(galleryv1alpha1.ReasonCheckFailed, err, "bucket %s is in another region than spec.storage.s3.region", bucket)
	case http.StatusNotFound, http.StatusForbidden, http.StatusBadRequest:
		// Some stores answer a HEAD with an unknown key as 404.
		_, listErr := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(1)})
		var ae smithy.APIError
		if errors.As(listErr, &ae) {
			switch ae.ErrorCode() {
			// XAdminUserNotFound is versitygw's InvalidAccessKeyId (with a 404).
			case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId", "XAdminUserNotFound":
				return failf(galleryv1alpha1.ReasonAuthenticationFailed, listErr, "S3 refused the credentials for bucket %s", bucket)
			case "NoSuchBucket":
				return failf(galleryv1alpha1.ReasonNotFound, listErr, "bucket %s does not exist", bucket)
			}
		}
		if re.HTTPStatusCode() == http.StatusNotFound {
			return failf(galleryv1alpha1.ReasonNotFound, err, "bucket %s does not exist", bucket)
		}
		return failf(galleryv1alpha1.ReasonAccessDenied, err, "the credentials may not read bucket %s", bucket)
	}
	return fail(galleryv1alpha1.ReasonCheckFailed, wrapped)
}
