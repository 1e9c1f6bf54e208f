package backup

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
)

// OpenLocation opens the backup location the configuration names: a directory, or an
// S3 bucket with its own static credentials or the pod's credential chain.
func OpenLocation(ctx context.Context, c config.Backup) (Location, error) {
	if c.Path != "" {
		fs, err := objects.NewFilesystem(c.Path)
		if err != nil {
			return nil, fmt.Errorf("backup location: %w", err)
		}
		return fs, nil
	}
	var extra []func(*awsconfig.LoadOptions) error
	if c.S3AccessKeyID != "" {
		extra = append(extra, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.S3AccessKeyID, c.S3SecretAccessKey, "")))
	}
	client, err := objects.NewS3Client(ctx, objects.ClientOptions{Region: c.S3Region, Endpoint: c.S3Endpoint, PathStyle: c.S3PathStyle}, extra...)
	if err != nil {
		return nil, fmt.Errorf("backup location: %w", err)
	}
	s3, err := objects.NewS3(client, objects.S3Options{Bucket: c.S3Bucket, Prefix: c.S3Prefix})
	if err != nil {
		return nil, fmt.Errorf("backup location: %w", err)
	}
	return s3, nil
}

// PhotoMode is how a backup of a gallery with this storage holds its photos.
func PhotoMode(c config.Config) string {
	switch {
	case !c.Backup.Photos:
		return PhotosExcluded
	case c.Storage.Backend == config.StorageS3:
		return PhotosListed
	default:
		return PhotosCopied
	}
}

func storeSQLite() config.Database { return config.Database{Driver: config.DriverSQLite} }
