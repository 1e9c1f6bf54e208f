package objects

import (
	"context"
	"fmt"

	"github.com/sortographer/sortographer/internal/config"
)

// Open builds the store that the configuration names.
func Open(ctx context.Context, c config.Config) (Store, error) {
	switch c.Storage.Backend {
	case config.StorageFilesystem:
		return NewFilesystem(c.StorageDir())
	case config.StorageS3:
		client, err := NewS3Client(ctx, ClientOptions{
			Region:    c.Storage.S3Region,
			Endpoint:  c.Storage.S3Endpoint,
			PathStyle: c.Storage.S3PathStyle,
		})
		if err != nil {
			return nil, err
		}
		return NewS3(client, S3Options{
			Bucket:      c.Storage.S3Bucket,
			Prefix:      c.Storage.S3Prefix,
			SSE:         c.Storage.S3SSE,
			SSEKMSKeyID: c.Storage.S3SSEKMSKeyID,
		})
	default:
		return nil, fmt.Errorf("storage backend %q: must be %s or %s", c.Storage.Backend, config.StorageFilesystem, config.StorageS3)
	}
}
