package api

import (
	"context"
	"time"

	"github.com/sortographer/sortographer/internal/accounts"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/store"
)

// Store is the part of the database the server uses, one interface for each handler
// file, so that what a file's handlers read and write is listed in one place (a method
// two files use is listed in both). store.Store is one, and so is the cache.Store that
// `serve` puts in front of it.
type Store interface {
	userStore
	oidcStore
	passwordStore
	imageStore
	uploadStore
	reclassifyStore
	albumStore
	shareStore
	adminStore
	exportStore
	accountStore
	usageReader
	// photos.Store is what the upload and delete workflows (upload.go and images.go,
	// through internal/photos) need.
	photos.Store
	// accounts.Store is what an account's erasure (internal/accounts), which users.go
	// starts, needs.
	accounts.Store
}

var _ Store = store.Store(nil)

// userStore is used by sign-up and sign-in (accounts.go) and by every signed-in request
// (middleware.go).
type userStore interface {
	CreateUser(ctx context.Context, u store.NewUser) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	UserByID(ctx context.Context, id int64) (store.User, error)
	HasAdmin(ctx context.Context) (bool, error)
}

// oidcStore is used by single sign-on (oidc.go): finding, linking and creating the
// account of a provider's identity, and recording what the sign-in said of it.
type oidcStore interface {
	UserByOIDC(ctx context.Context, issuer, subject string) (store.User, error)
	UserByEmail(ctx context.Context, email string) (store.User, error)
	LinkOIDC(ctx context.Context, userID int64, issuer, subject string) error
	CreateUser(ctx context.Context, u store.NewUser) (store.User, error)
	UpdateOIDCProfile(ctx context.Context, userID int64, displayName string, isAdmin bool) error
	SetUserQuota(ctx context.Context, userID int64, bytes, photos *int64) error
	RemovePassword(ctx context.Context, userID int64) error
}

// passwordStore is used by the password change (sessions.go).
type passwordStore interface {
	SetPasswordHash(ctx context.Context, userID int64, hash string) error
}

// imageStore is used by the listings, the searches and an image's page (images.go),
// and by the display image (display.go: Image).
type imageStore interface {
	ListImages(ctx context.Context, ownerID int64, page store.PageRequest) (store.Page, error)
	SearchByLabels(ctx context.Context, ownerID int64, labels []string, page store.PageRequest) (store.Page, error)
	Search(ctx context.Context, ownerID int64, terms []string, page store.PageRequest) (store.SearchPage, error)
	TextsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string]store.Text, error)
	ImageText(ctx context.Context, ownerID int64, imageID string) (store.Text, error)
	LabelCounts(ctx context.Context, ownerID int64) ([]store.LabelCount, error)
	LabelsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string][]store.Label, error)
	Image(ctx context.Context, ownerID int64, id string) (store.Image, error)
	ImageLabels(ctx context.Context, ownerID int64, imageID string) ([]store.Label, error)
}

// uploadStore is used by upload.go besides photos.Store: its duplicate check while
// reading, and the labels of a duplicate it answers with.
type uploadStore interface {
	ImageBySHA256(ctx context.Context, ownerID int64, sha256 string) (store.Image, error)
	ImageLabels(ctx context.Context, ownerID int64, imageID string) ([]store.Label, error)
}

// reclassifyStore is used by reclassify.go.
type reclassifyStore interface {
	RequestReclassify(ctx context.Context, ownerID int64, imageID string) (store.Image, error)
	RequestReclassifyAll(ctx context.Context, ownerID int64) (int64, error)
	ImageLabels(ctx context.Context, ownerID int64, imageID string) ([]store.Label, error)
}

// albumStore is used by albums.go.
type albumStore interface {
	LabelAlbums(ctx context.Context, ownerID int64) ([]store.LabelAlbum, error)
	Albums(ctx context.Context, ownerID int64) ([]store.Album, error)
	CreateAlbum(ctx context.Context, ownerID int64, name string) (store.Album, error)
	Album(ctx context.Context, ownerID int64, id string) (store.Album, error)
	RenameAlbum(ctx context.Context, ownerID int64, id, name string) (store.Album, error)
	DeleteAlbum(ctx context.Context, ownerID int64, id string) error
	AlbumImages(ctx context.Context, ownerID int64, albumID string, page store.PageRequest) (store.Page, error)
	AddToAlbum(ctx context.Context, ownerID int64, albumID string, imageIDs []string) error
	RemoveFromAlbum(ctx context.Context, ownerID int64, albumID string, imageIDs []string) (int64, error)
}

// shareStore is used by shares.go: an owner's links, and what a link opens.
type shareStore interface {
	CreateShare(ctx context.Context, s store.NewShare) (store.Share, error)
	Shares(ctx context.Context, ownerID int64) ([]store.Share, error)
	DeleteShare(ctx context.Context, ownerID int64, id string) error
	ShareByTokenHash(ctx context.Context, tokenHash string, now time.Time) (store.Share, error)
	Image(ctx context.Context, ownerID int64, id string) (store.Image, error)
	Album(ctx context.Context, ownerID int64, id string) (store.Album, error)
	AlbumImages(ctx context.Context, ownerID int64, albumID string, page store.PageRequest) (store.Page, error)
	AlbumImage(ctx context.Context, ownerID int64, albumID, imageID string) (store.Image, error)
}

// accountStore is used by users.go (account administration and deletion) and by
// quota.go (a user's usage, read afresh before recording an upload).
type accountStore interface {
	UserByID(ctx context.Context, id int64) (store.User, error)
	ListUsers(ctx context.Context, page store.UserPageRequest) (store.UserPage, error)
	SetUserQuota(ctx context.Context, userID int64, bytes, photos *int64) error
	SetUserDisabled(ctx context.Context, userID int64, disabled bool) error
	RequestErasure(ctx context.Context, userID int64) error
}

// adminStore is used by admin.go.
type adminStore interface {
	Stats(ctx context.Context) (store.Stats, error)
	RecentFailures(ctx context.Context, limit int) ([]store.Failure, error)
}
