// Package store is the gallery's database: users, images and their labels, on MySQL or
// MariaDB, PostgreSQL or SQLite behind one Store interface.
//
// Times are stored as Unix microseconds (UTC) in integer columns, so ordering, equality
// and pagination cursors behave identically on all three databases; the API speaks
// time.Time, truncated to the microsecond.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no such row, or it belongs to another user (the two are
	// indistinguishable on purpose, so ids cannot be probed).
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: the email address is already taken.
	ErrDuplicate = errors.New("already exists")
	// ErrInvalidCursor: a page cursor that this package did not make.
	ErrInvalidCursor = errors.New("invalid page cursor")
	// ErrAlreadyLabelled: SetLabels found the image no longer queued (another delivery
	// of the same job committed first) and wrote nothing. Not a failure.
	ErrAlreadyLabelled = errors.New("image already labelled")
)

// Store is the gallery's database. Methods marked "lag-tolerant" may later be served by
// a read replica, so they must not be relied on to see a write made a moment earlier.
type Store interface {
	// CreateUser adds a user. Emails are unique regardless of case; a taken one returns
	// ErrDuplicate.
	CreateUser(ctx context.Context, u NewUser) (User, error)
	// UserByEmail finds a user by email, in any case.
	UserByEmail(ctx context.Context, email string) (User, error)
	// UserByID finds a user by id.
	UserByID(ctx context.Context, id int64) (User, error)

	// CreateImage records an uploaded image as queued for classification. ID and
	// CreatedAt are filled in when empty (see NewImageID); status, attempts and the
	// labelling fields are ignored.
	CreateImage(ctx context.Context, img Image) (Image, error)
	// Image returns one of owner's images; another user's is ErrNotFound.
	Image(ctx context.Context, ownerID int64, id string) (Image, error)
	// ImageForJob returns an image whoever owns it, for the classification worker.
	ImageForJob(ctx context.Context, id string) (Image, error)
	// ImageBySHA256 returns owner's most recent image with this content hash, for
	// duplicate detection.
	ImageBySHA256(ctx context.Context, ownerID int64, sha256 string) (Image, error)
	// ListImages pages through owner's images, newest first. Lag-tolerant.
	ListImages(ctx context.Context, ownerID int64, page PageRequest) (Page, error)
	// DeleteImage deletes one of owner's images and its labels in one transaction and
	// returns the deleted image, whose object and thumbnail keys the caller then removes
	// from storage.
	DeleteImage(ctx context.Context, ownerID int64, id string) (Image, error)

	// SetLabels replaces an image's labels with a classification's and marks it
	// labelled, in one transaction. Delivering the same job twice leaves the same
	// labels; an image deleted meanwhile returns ErrNotFound and writes nothing.
	SetLabels(ctx context.Context, imageID string, c Classification) error
	// RecordAttempt counts a classification attempt and returns the new count.
	RecordAttempt(ctx context.Context, imageID string) (int, error)
	// MarkFailed marks an image failed with a reason shown to its owner.
	MarkFailed(ctx context.Context, imageID, reason string) error
	// Requeue marks an image queued again, as of now (after a failure, or when the
	// sweep re-enqueues a lost job).
	Requeue(ctx context.Context, imageID string) error
	// StaleQueued lists up to limit images queued for longer than olderThan, oldest
	// first, for the sweep that re-enqueues jobs a crashed worker or a lost queue
	// dropped.
	StaleQueued(ctx context.Context, olderThan time.Duration, limit int) ([]string, error)

	// ImageLabels returns the labels of one of owner's images, most confident first.
	ImageLabels(ctx context.Context, ownerID int64, imageID string) ([]Label, error)
	// SearchByLabels pages through owner's images carrying every one of the labels,
	// newest first. Lag-tolerant.
	SearchByLabels(ctx context.Context, ownerID int64, labels []string, page PageRequest) (Page, error)
	// LabelCounts lists owner's labels with how many images carry each, most common
	// first. Lag-tolerant.
	LabelCounts(ctx context.Context, ownerID int64) ([]LabelCount, error)

	// Stats counts rows for the admin view. Lag-tolerant.
	Stats(ctx context.Context) (Stats, error)

	// Migrate brings the schema up to date. Several replicas may call it at once: a
	// database lock lets one apply the migrations while the others wait, then find
	// nothing to do.
	Migrate(ctx context.Context) error
	// SchemaVersion is the newest migration applied (0 before the first), to compare
	// with LatestSchemaVersion.
	SchemaVersion(ctx context.Context) (int, error)
	// Ping checks the database answers, for readiness.
	Ping(ctx context.Context) error
	// Close closes the connection pool.
	Close() error
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email        string
	PasswordHash string
	IsAdmin      bool
}

// User is a gallery account.
type User struct {
	ID int64
	// Email is stored trimmed and in lower case.
	Email        string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
}

// ImageStatus is where an image is in classification.
type ImageStatus string

// Image statuses.
const (
	StatusQueued   ImageStatus = "queued"
	StatusLabelled ImageStatus = "labelled"
	StatusFailed   ImageStatus = "failed"
)

// Image is an uploaded photo.
type Image struct {
	// ID is random and unguessable (see NewImageID); it appears in URLs.
	ID           string
	OwnerID      int64
	ObjectKey    string
	ThumbnailKey string
	ContentType  string
	SizeBytes    int64
	Width        int
	Height       int
	// SHA256 is the hex digest of the original file.
	SHA256 string
	// TakenAt is from EXIF; zero when unknown.
	TakenAt   time.Time
	CreatedAt time.Time

	Status        ImageStatus
	FailureReason string
	Attempts      int
	// QueuedAt is when the image was last queued for classification.
	QueuedAt time.Time
	// LabelledAt is zero until the image is labelled.
	LabelledAt time.Time
	// Provider and Model are the classifier that labelled the image.
	Provider string
	Model    string
}

// Classification is one classifier's result for an image.
type Classification struct {
	Provider string
	Model    string
	Labels   []Label
	// Reclassify replaces the labels of an image that is already labelled. Without it,
	// SetLabels writes only while the image is queued, so a job delivered twice (say,
	// re-enqueued by the sweep while a worker still held it) writes its labels once.
	Reclassify bool // see ErrAlreadyLabelled
}

// Label is one thing a classifier saw in an image.
type Label struct {
	// Name is stored trimmed and in lower case.
	Name string
	// Confidence is the classifier's score, 0 to 100.
	Confidence float64
	// Categories are the label's parents ("dog" → "animal", "pet").
	Categories []string
	Provider   string
	Model      string
}

// LabelCount is how many of a user's images carry a label.
type LabelCount struct {
	Name   string
	Images int64
}

// Stats are row counts for the admin view.
type Stats struct {
	Users    int64
	Images   int64
	Queued   int64
	Labelled int64
	Failed   int64
	Labels   int64
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageRequest asks for one page of a listing.
type PageRequest struct {
	// Limit is the page size: DefaultPageSize when zero, at most MaxPageSize.
	Limit int
	// Cursor is the previous page's Next; empty for the first page.
	Cursor string
}

// Page is one page of images.
type Page struct {
	Images []Image
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// NewImageID returns a new random image id: 16 random bytes in hex, so ids cannot be
// guessed or enumerated.
func NewImageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
