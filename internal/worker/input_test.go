package worker_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/sortographer/sortographer/internal/classify/rekognition"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/worker"
)

// With originals in AWS S3 and Rekognition's S3 mode, the worker leaves to Rekognition
// only the originals it reads there (a JPEG or PNG within its limits); a HEIC, a RAW or
// an oversized JPEG is downloaded and given as the bytes uploaded, of which Rekognition
// makes its JPEG.
func TestClassifierInputFromS3OnlyWhatItReads(t *testing.T) {
	f := newFixture(t, config.Database{})
	ids := f.addImages(1)
	img, err := f.st.ImageForJob(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	original := readObject(t, f, img.ObjectKey)
	cfg := f.cfg
	cfg.Storage = config.Storage{Backend: config.StorageS3, S3Bucket: "photos", S3Prefix: "gallery/"}
	d := worker.Deps{Config: cfg, Store: f.st, Objects: f.obj, Queue: queue.NewMemory(queue.Options{}),
		Classifier: rekognition.New(nil, rekognition.Options{UseS3: true})}
	for _, tc := range []struct {
		name        string
		contentType string
		w, h        int
		size        int64
		fromS3      bool
	}{
		{"jpeg", "image/jpeg", 4000, 3000, 4 << 20, true},
		{"png", "image/png", 1200, 800, 1 << 20, true},
		{"heic", "image/heic", 4032, 3024, 2 << 20, false},
		{"dng", "image/x-adobe-dng", 4000, 3000, 20 << 20, false},
		{"jpeg over 15 MB", "image/jpeg", 8000, 6000, 16 << 20, false},
		{"jpeg under 80 px", "image/jpeg", 60, 40, 2 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := img
			row.ContentType, row.Width, row.Height, row.SizeBytes = tc.contentType, tc.w, tc.h, tc.size
			in, err := worker.ClassifierInput(context.Background(), d, row)
			if err != nil {
				t.Fatal(err)
			}
			if in.S3Bucket != "photos" || in.S3Key != "gallery/"+img.ObjectKey {
				t.Errorf("S3 location %q %q, want photos gallery/%s", in.S3Bucket, in.S3Key, img.ObjectKey)
			}
			if tc.fromS3 && in.Bytes != nil {
				t.Errorf("downloaded %d bytes that Rekognition reads from S3 itself", len(in.Bytes))
			}
			if !tc.fromS3 && !bytes.Equal(in.Bytes, original) {
				t.Errorf("gave %d bytes, want the %d of the original as uploaded", len(in.Bytes), len(original))
			}
		})
	}
}

func readObject(t *testing.T, f *fixture, key string) []byte {
	t.Helper()
	rc, _, err := f.obj.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
