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
	// ErrDuplicate: the email address is already taken, or (CreateImage) the owner
	// already has an image with this content; ImageBySHA256 returns it.
	ErrDuplicate = errors.New("already exists")
	// ErrInvalidCursor: a page cursor that this package did not make.
	ErrInvalidCursor = errors.New("invalid page cursor")
	// ErrAlreadyLabelled: SetLabels found the image no longer queued (another delivery
	// of the same job committed first) and wrote nothing. Not a failure.
	ErrAlreadyLabelled = errors.New("image already labelled")
	// ErrStillQueued: RequestReclassify found the image still waiting for its first
	// classification, which will use the current classifier anyway.
	ErrStillQueued = errors.New("image still queued for classification")
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
	// UserByOIDC finds the user linked to an OpenID provider's identity (issuer and
	// subject); none is ErrNotFound.
	UserByOIDC(ctx context.Context, issuer, subject string) (User, error)
	// LinkOIDC links a user to an OpenID provider's identity. An identity linked to
	// another user, or a user linked to another identity, is ErrDuplicate.
	LinkOIDC(ctx context.Context, userID int64, issuer, subject string) error
	// UpdateOIDCProfile records what an OIDC sign-in said of a user: the display name
	// and whether the provider makes them an admin.
	UpdateOIDCProfile(ctx context.Context, userID int64, displayName string, isAdmin bool) error
	// HasAdmin reports whether any user is an admin.
	HasAdmin(ctx context.Context) (bool, error)
	// SetPasswordHash replaces a user's password hash (a password change); callers
	// revoke the user's other sessions next (internal/sessions).
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
	// RemovePassword leaves a user without a password: one linked to a single sign-on
	// provider, which alone signs them in from then on.
	RemovePassword(ctx context.Context, userID int64) error

	// Sessions (sessions.go): the rows behind session tokens. Always on the writer: a
	// revoked session must not be found on a lagging reader.
	//
	// CreateSession stores a new session and returns it with its ID.
	CreateSession(ctx context.Context, s Session) (Session, error)
	// SessionByTokenHash finds a session by its token's hash; ErrNotFound when it was
	// revoked or never existed.
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, error)
	// RenewSession records a use of a session; ErrNotFound when it was revoked meanwhile.
	RenewSession(ctx context.Context, id int64, renewedAt, idleExpiresAt time.Time) error
	// SessionsOfUser lists a user's sessions, newest first, expired ones included.
	SessionsOfUser(ctx context.Context, userID int64) ([]Session, error)
	// DeleteSession revokes one of a user's sessions and returns it (for its token
	// hash); another user's, or a missing one, is ErrNotFound.
	DeleteSession(ctx context.Context, userID, id int64) (Session, error)
	// DeleteUserSessions revokes every session of a user but exceptID (0: all) and
	// returns the token hashes it deleted.
	DeleteUserSessions(ctx context.Context, userID, exceptID int64) ([]string, error)
	// DeleteExpiredSessions removes sessions past their idle (and so their absolute)
	// expiry and counts them.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// CreateImage records an uploaded image as queued for classification. ID and
	// CreatedAt are filled in when empty (see NewImageID); status, attempts and the
	// labelling fields are ignored. It is CreateImageWithinQuota with no Gallery
	// default: only an admin's override for the owner limits it.
	CreateImage(ctx context.Context, img Image) (Image, error)
	// CreateImageWithinQuota is CreateImage when the image fits in its owner's quota
	// (their override applied to defaults), which the owner's usage then counts, in
	// one transaction. An image that does not fit returns a *QuotaError (errors.Is
	// ErrQuotaExceeded) and records nothing; so does nothing for an owner being erased
	// (ErrNotFound). Concurrent uploads of one owner never take them past the quota
	// (quota.go).
	CreateImageWithinQuota(ctx context.Context, img Image, defaults Quota) (Image, error)
	// Image returns one of owner's images; another user's is ErrNotFound.
	Image(ctx context.Context, ownerID int64, id string) (Image, error)
	// ImageForJob returns an image whoever owns it, for the classification worker.
	ImageForJob(ctx context.Context, id string) (Image, error)
	// ImageBySHA256 returns owner's most recent image with this content hash, for
	// duplicate detection.
	ImageBySHA256(ctx context.Context, ownerID int64, sha256 string) (Image, error)
	// ListImages pages through owner's images, newest first. Lag-tolerant.
	ListImages(ctx context.Context, ownerID int64, page PageRequest) (Page, error)
	// DeleteImage deletes one of owner's images, its labels and its text in one
	// transaction and returns the deleted image, whose object and thumbnail keys the
	// caller then removes from storage.
	DeleteImage(ctx context.Context, ownerID int64, id string) (Image, error)

	// SetLabels replaces an image's labels (and, when the classification read text, its
	// text) with a classification's and marks it labelled, in one transaction.
	// Delivering the same job twice leaves the same labels; an image deleted meanwhile
	// returns ErrNotFound and writes nothing.
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
	// LabelsOfImages returns the labels of many of owner's images, for a page of them,
	// in one query (labels_batch.go): each image's most confident first. An image
	// without labels, and one that is not owner's or does not exist, has no entry.
	// Lag-tolerant.
	LabelsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string][]Label, error)
	// SearchByLabels pages through owner's images carrying every one of the labels,
	// newest first. Lag-tolerant.
	SearchByLabels(ctx context.Context, ownerID int64, labels []string, page PageRequest) (Page, error)
	// Search pages through owner's images matching every one of the terms, each by a
	// label, a broader label derived from one, or the words of the photo's text
	// (search.go), ranked: photos the classifier gave every term as a label first, then
	// those needing a broader label, then those needing their text; newest first within
	// a rank. Its cursors are its own. Lag-tolerant.
	Search(ctx context.Context, ownerID int64, terms []string, page PageRequest) (SearchPage, error)
	// ImageText returns the text read in one of owner's images (text.go); ErrNotFound
	// when none was read, and for another user's image.
	ImageText(ctx context.Context, ownerID int64, imageID string) (Text, error)
	// TextsOfImages returns the texts read in many of owner's images, for a page of
	// them, in one query per MaxPageSize ids; an image without text has no entry.
	// Lag-tolerant.
	TextsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string]Text, error)
	// LabelCounts lists owner's labels with how many images carry each, most common
	// first. Lag-tolerant.
	LabelCounts(ctx context.Context, ownerID int64) ([]LabelCount, error)

	// Stats counts rows for the admin view. Lag-tolerant.
	Stats(ctx context.Context) (Stats, error)
	// RecentFailures lists up to limit failed images, most recently failed first, for
	// the admin view. Lag-tolerant.
	RecentFailures(ctx context.Context, limit int) ([]Failure, error)
	// Usage counts images by status and sums their sizes, for the server's metrics
	// (usage.go). It scans the images table: callers cache it. Lag-tolerant.
	Usage(ctx context.Context) (Usage, error)

	// Reclassification (reclassify.go): a request marks images in the database, the
	// workers' drain moves marked images into the low-priority queue, and the worker
	// that ran a job removes its mark.

	// RequestReclassify marks one of owner's labelled or failed images for
	// classification again and returns it; a queued one is ErrStillQueued.
	RequestReclassify(ctx context.Context, ownerID int64, imageID string) (Image, error)
	// RequestReclassifyAll marks all of owner's labelled and failed images, in one
	// statement, and returns how many.
	RequestReclassifyAll(ctx context.Context, ownerID int64) (int64, error)
	// PendingReclassification lists up to limit marked images whose job is not enqueued,
	// or was enqueued before staleBefore, oldest request first.
	PendingReclassification(ctx context.Context, staleBefore time.Time, limit int) ([]ReclassifyRequest, error)
	// MarkReclassifyEnqueued records that the requests' jobs are enqueued as of at (the
	// jobs' EnqueuedAt). A request renewed since it was listed is left pending.
	MarkReclassifyEnqueued(ctx context.Context, reqs []ReclassifyRequest, at time.Time) error
	// FinishReclassification removes the mark of an image whose job, enqueued at
	// enqueuedAt, has run. A mark renewed since that enqueue stays.
	FinishReclassification(ctx context.Context, imageID string, enqueuedAt time.Time) error

	// Albums (albums.go). Another user's album is ErrNotFound everywhere, and so is
	// adding another user's image to one's album.

	// LabelAlbums lists owner's automatic albums, one per label, most common first,
	// each with its count and its newest image as cover, in one query. Lag-tolerant.
	LabelAlbums(ctx context.Context, ownerID int64) ([]LabelAlbum, error)
	// CreateAlbum makes an empty named album; the name is checked by
	// NormaliseAlbumName (ErrInvalidName). Names need not be unique.
	CreateAlbum(ctx context.Context, ownerID int64, name string) (Album, error)
	// Albums lists owner's named albums, most recently changed first, each with its
	// count and cover, in one query. Lag-tolerant.
	Albums(ctx context.Context, ownerID int64) ([]Album, error)
	// Album returns one of owner's albums with its count and cover.
	Album(ctx context.Context, ownerID int64, id string) (Album, error)
	// RenameAlbum renames one of owner's albums (ErrInvalidName for a bad name).
	RenameAlbum(ctx context.Context, ownerID int64, id, name string) (Album, error)
	// DeleteAlbum deletes one of owner's albums and its share links, never its images.
	DeleteAlbum(ctx context.Context, ownerID int64, id string) error
	// AddToAlbum adds up to MaxAlbumBatch of owner's images to one of owner's albums,
	// in one transaction; images already in it keep their place. Any image that is not
	// owner's adds nothing and is ErrNotFound.
	AddToAlbum(ctx context.Context, ownerID int64, albumID string, imageIDs []string) error
	// RemoveFromAlbum takes images out of one of owner's albums and returns how many
	// were in it; an image not in it is ignored.
	RemoveFromAlbum(ctx context.Context, ownerID int64, albumID string, imageIDs []string) (int64, error)
	// AlbumImages pages through one of owner's albums, most recently added first.
	// Lag-tolerant.
	AlbumImages(ctx context.Context, ownerID int64, albumID string, page PageRequest) (Page, error)
	// AlbumImage returns an image in one of owner's albums; one not in it is
	// ErrNotFound. Lag-tolerant.
	AlbumImage(ctx context.Context, ownerID int64, albumID, imageID string) (Image, error)

	// Share links (shares.go): only a hash of each token is stored.

	// CreateShare makes a link to one of the owner's images or albums (ErrNotFound for
	// another user's).
	CreateShare(ctx context.Context, s NewShare) (Share, error)
	// Shares lists owner's links, newest first, expired ones included.
	Shares(ctx context.Context, ownerID int64) ([]Share, error)
	// DeleteShare revokes one of owner's links.
	DeleteShare(ctx context.Context, ownerID int64, id string) error
	// ShareByTokenHash finds the link whose token hashes to tokenHash (HashShareToken);
	// one expired at now is ErrNotFound. Always read from the writer, so a revoked link
	// stops at once.
	ShareByTokenHash(ctx context.Context, tokenHash string, now time.Time) (Share, error)

	// Quotas and account administration (quota.go, accounts.go).

	// SetUserQuota sets an admin's override of a user's quota: bytes of originals and
	// photos, nil for the Gallery's default, UnlimitedQuota for none. An OIDC quota
	// claim sets it at each sign-in. ErrNotFound for a user gone or being erased.
	SetUserQuota(ctx context.Context, userID int64, bytes, photos *int64) error
	// ListUsers pages through every user in id order, the disabled and those being
	// erased included, for the admin view.
	ListUsers(ctx context.Context, page UserPageRequest) (UserPage, error)
	// SetUserDisabled disables or enables an account. Disabling the last enabled
	// admin is ErrLastAdmin; disabling a disabled account changes nothing.
	SetUserDisabled(ctx context.Context, userID int64, disabled bool) error
	// RequestErasure marks an account for deletion (GDPR erasure): from then on it is
	// gone for sign-in, every request and uploads, and internal/accounts erases it.
	// The last enabled admin is ErrLastAdmin; asking twice changes nothing.
	RequestErasure(ctx context.Context, userID int64) error
	// ErasuresPending lists up to limit accounts marked for erasure, oldest mark
	// first, for resuming erasures a crash interrupted.
	ErasuresPending(ctx context.Context, limit int) ([]int64, error)
	// DeleteErasedUser is an erasure's last step: it deletes every row left of a user
	// marked for erasure (share links, albums, images, labels, texts) and the user's
	// row, in one transaction. The photos' objects must be gone first.
	DeleteErasedUser(ctx context.Context, userID int64) error

	// Migrate brings the schema up to date. Several replicas may call it at once: a
	// database lock lets one apply the migrations while the others wait, then find
	// nothing to do.
	Migrate(ctx context.Context) error
	// SchemaVersion is the newest migration applied (0 before the first), to compare
	// with LatestSchemaVersion.
	SchemaVersion(ctx context.Context) (int, error)
	// RecordAppVersion notes that this gallery version migrated the database now.
	RecordAppVersion(ctx context.Context, version string) error
	// AppVersions are the gallery versions that migrated the database, oldest first.
	AppVersions(ctx context.Context) ([]AppVersion, error)
	// Ping checks the database answers, for readiness.
	Ping(ctx context.Context) error
	// Close closes the connection pool.
	Close() error
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email string
	// PasswordHash is empty for an account that signs in through the OpenID provider
	// only: no password matches it.
	PasswordHash string
	IsAdmin      bool
	// OIDCIssuer and OIDCSubject link the account to an OpenID provider's identity
	// (both or neither); DisplayName is its name claim.
	OIDCIssuer, OIDCSubject string
	DisplayName             string
}

// User is a gallery account.
type User struct {
	ID int64
	// Email is stored trimmed and in lower case.
	Email        string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	// OIDCIssuer and OIDCSubject are the OpenID provider's identity the account is
	// linked to; empty for a local account. DisplayName is the provider's name claim.
	OIDCIssuer, OIDCSubject string
	DisplayName             string

	// QuotaOverride is an admin's override of the Gallery's default quota (quota.go).
	QuotaOverride QuotaOverride
	// UsedBytes and UsedPhotos are the sizes of the user's originals summed, and their
	// count: what the quota counts, kept with every image recorded or deleted.
	UsedBytes, UsedPhotos int64
	// DisabledAt is when an admin disabled the account; zero while it is enabled. A
	// disabled user's requests are refused.
	DisabledAt time.Time
	// EraseRequestedAt is when the account's deletion was asked for; zero otherwise.
	// From then on the account is gone for every request, and its erasure (photos,
	// albums, share links, then the row) is under way or will be resumed.
	EraseRequestedAt time.Time
}

// Disabled reports whether an admin disabled the account.
func (u User) Disabled() bool { return !u.DisabledAt.IsZero() }

// Erasing reports whether the account is being deleted.
func (u User) Erasing() bool { return !u.EraseRequestedAt.IsZero() }

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
	// Text is what a text reader read in the image, replacing any text read before; nil
	// when no text reader ran, which leaves the image's text as it was.
	Text *Text
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
	// DerivedFrom is the label this one is a parent of ("cat" for "animal"), stored
	// so that a search for the broader word finds the image; empty for a label the
	// classifier gave itself. A derived label has its child's confidence.
	DerivedFrom string
}

// Text is the writing a text reader found in an image: one per image.
type Text struct {
	// Content is the text as read, lines joined by "\n"; empty when the reader found
	// none. At most MaxTextBytes are stored.
	Content string
	// Confidence is the reader's, 0 to 100.
	Confidence float64
	// Provider and Model are the text reader's ("tesseract", "eng+kor").
	Provider, Model string
	// ReadAt is when the text was read; SetLabels fills in the time of its commit when
	// zero.
	ReadAt time.Time
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
	// ReclassifyPending are images marked for reclassification whose job has not run.
	ReclassifyPending int64
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
