package objects

import (
	"errors"
	"fmt"
)

// ErrInvalidID is returned (wrapped) by ImageKeys for an id that ValidateID refuses.
var ErrInvalidID = errors.New("invalid id")

// maxIDLen fits a UUID, a ULID or a decimal int64 with room to spare.
const maxIDLen = 64

// ValidateID accepts a server-generated id: 1 to 64 ASCII letters, digits, '-' or '_',
// starting with a letter or digit.
func ValidateID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: %.70q: must be 1 to %d characters", ErrInvalidID, id, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_') {
			return fmt.Errorf("%w: %q: only letters, digits, '-' and '_', starting with a letter or digit", ErrInvalidID, id)
		}
	}
	return nil
}

// Keys are where one image's objects live.
type Keys struct {
	// Original is the uploaded file, byte for byte.
	Original string
	// Thumbnail is the JPEG thumbnail.
	Thumbnail string
	// Display is the JPEG the web UI's full view shows of a photo that browsers cannot
	// display as stored (HEIC, TIFF, RAW), made from the original on its first view.
	Display string
	// Shared is what a share link serves of the original when the gallery strips
	// location from shared photos (imaging.SharedCopy), made on its first request.
	Shared string
}

// All lists every key of the image, for deleting it.
func (k Keys) All() []string { return []string{k.Original, k.Thumbnail, k.Display, k.Shared} }

// ImageKeys returns the keys of an image, images/<ownerID>/<imageID>/original,
// …/thumb.jpg, …/display.jpg and …/shared. Both ids must be server-generated; they are validated,
// so a bad id cannot reach another owner's objects.
func ImageKeys(ownerID, imageID string) (Keys, error) {
	if err := ValidateID(ownerID); err != nil {
		return Keys{}, fmt.Errorf("owner id: %w", err)
	}
	if err := ValidateID(imageID); err != nil {
		return Keys{}, fmt.Errorf("image id: %w", err)
	}
	dir := "images/" + ownerID + "/" + imageID + "/"
	return Keys{Original: dir + "original", Thumbnail: dir + "thumb.jpg", Display: dir + "display.jpg", Shared: dir + "shared"}, nil
}

// OwnerPrefix is the folder of every object of one owner's images, images/<ownerID>/,
// for erasing an account. The id is validated as ImageKeys does.
func OwnerPrefix(ownerID string) (string, error) {
	if err := ValidateID(ownerID); err != nil {
		return "", fmt.Errorf("owner id: %w", err)
	}
	return "images/" + ownerID + "/", nil
}
