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
// ServiceAccount), and finding no credentials there is its own failure, told before
// anything is sent to S3.
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
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return "", failf(galleryv1alpha1.ReasonAuthenticationFailed, err,
			"the operator found no AWS credentials for bucket %s (give its ServiceAccount an IRSA role or Pod Identity association, or set spec.storage.s3.credentialsSecret)", s.S3Bucket)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(s.S3Endpoint)
		}
		o.UsePathStyle = s.S3PathStyle
	})
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.S3Bucket)}); err != nil {
		if err := bucketFailure(ctx, c, s, err); err != nil {
			return "", err
		}
		// HeadBucket was refused, but the gallery's prefix can be listed: a policy
		// scoped to the prefix, which is all the gallery needs.
		return "unknown (the credentials may use only the prefix " + s.S3Prefix + ")", nil
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

// bucketFailure names why HeadBucket failed; nil when the gallery can use the bucket
// after all. HeadBucket's answers have no body, so a 403 or 404 says nothing of whether
// the key is unknown, the signature wrong, the policy closed or scoped to a prefix: one
// ListObjectsV2 of a single key under the gallery's prefix asks again and gets the error
// code.
func bucketFailure(ctx context.Context, c *s3.Client, s config.Storage, err error) error {
	bucket := s.S3Bucket
	wrapped := fmt.Errorf("head bucket %s: %w", bucket, err)
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() == 0 {
		if reason, ok := transportReason(err); ok {
			return fail(reason, wrapped)
		}
		return fail(galleryv1alpha1.ReasonCheckFailed, wrapped)
	}
	if re.HTTPStatusCode() == http.StatusMovedPermanently {
		return wrongRegion(bucket, re, err)
	}
	_, listErr := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(s.S3Prefix), MaxKeys: aws.Int32(1)})
	if listErr == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(listErr, &ae) {
		switch ae.ErrorCode() {
		// XAdminUserNotFound is versitygw's InvalidAccessKeyId (with a 404).
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId", "XAdminUserNotFound":
			return failf(galleryv1alpha1.ReasonAuthenticationFailed, listErr, "S3 refused the credentials for bucket %s", bucket)
		case "NoSuchBucket":
			return failf(galleryv1alpha1.ReasonNotFound, listErr, "bucket %s does not exist", bucket)
		case "AuthorizationHeaderMalformed", "PermanentRedirect":
			return wrongRegion(bucket, re, listErr)
		case "AccessDenied":
			return failf(galleryv1alpha1.ReasonAccessDenied, listErr, "the credentials may not list bucket %s under the prefix %q", bucket, s.S3Prefix)
		}
	}
	switch re.HTTPStatusCode() {
	case http.StatusNotFound:
		return failf(galleryv1alpha1.ReasonNotFound, err, "bucket %s does not exist", bucket)
	case http.StatusForbidden:
		return failf(galleryv1alpha1.ReasonAccessDenied, err, "the credentials may not read bucket %s", bucket)
	}
	return fail(galleryv1alpha1.ReasonCheckFailed, wrapped)
}

// wrongRegion says the bucket lives in another region, naming it when S3 did.
func wrongRegion(bucket string, re *smithyhttp.ResponseError, err error) error {
	region := ""
	if re.Response != nil {
		region = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	if region != "" {
		return failf(galleryv1alpha1.ReasonCheckFailed, err, "bucket %s is in region %s, not spec.storage.s3.region's", bucket, region)
	}
	return failf(galleryv1alpha1.ReasonCheckFailed, err, "bucket %s is in another region than spec.storage.s3.region", bucket)
}
