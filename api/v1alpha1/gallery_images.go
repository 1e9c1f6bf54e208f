package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// DefaultImages are the images a Gallery runs where its spec names none: the operator's
// own, set by its flags (the chart's image.registry and appVersion), so that upgrading
// the operator upgrades every Gallery that pins nothing.
type DefaultImages struct {
	// Gallery is the gallery app's image reference.
	Gallery string
	// RedisRepository and MariaDBRepository are repositories: the tag is the spec's
	// version (Redis "<version>-alpine", as Docker Hub's official images are tagged).
	RedisRepository   string
	MariaDBRepository string
}

// The defaults of an operator started without image flags.
const (
	DefaultGalleryImage      = "ghcr.io/sortographer/sortographer:v0.3.0"
	DefaultRedisRepository   = "docker.io/library/redis"
	DefaultMariaDBRepository = "docker.io/library/mariadb"
)

// BuiltinDefaultImages are the defaults an operator started without image flags uses.
func BuiltinDefaultImages() DefaultImages {
	return DefaultImages{Gallery: DefaultGalleryImage, RedisRepository: DefaultRedisRepository, MariaDBRepository: DefaultMariaDBRepository}
}

// legacyDefaultGalleryImages are the defaults earlier CRDs wrote into spec.server.image
// of every Gallery created under them: the admin never chose them, so they do not pin.
var legacyDefaultGalleryImages = map[string]bool{
	"ghcr.io/sortographer/sortographer:v0.2.0": true,
}

// PinsGalleryImage reports whether spec.server.image names an image of the admin's
// choosing (not empty, and not an earlier CRD's default).
func (g *Gallery) PinsGalleryImage() bool {
	return g.Spec.Server.Image != "" && !legacyDefaultGalleryImages[g.Spec.Server.Image]
}

// WithDefaultImages fills, in place, every image the spec leaves to the operator:
// spec.server.image (also when it holds an earlier CRD's default), and the managed
// Redis' and MariaDB's images from their versions. The builders read the images from the
// spec alone.
func (g *Gallery) WithDefaultImages(d DefaultImages) {
	if !g.PinsGalleryImage() {
		g.Spec.Server.Image = d.Gallery
	}
	if m := g.Spec.Cache.Managed; m != nil && m.Image == "" {
		m.Image = fmt.Sprintf("%s:%s-alpine", d.RedisRepository, m.Version)
	}
	if m := g.Spec.Database.Managed; m != nil && m.Image == "" {
		m.Image = fmt.Sprintf("%s:%s", d.MariaDBRepository, m.Version)
	}
}

// ImageVersion is what an image reference says of its version: the digest's first 12
// hex digits when it has one ("sha256:0123456789ab"), else its tag, else "latest".
func ImageVersion(ref string) string {
	if _, digest, ok := strings.Cut(ref, "@"); ok {
		if algo, hexDigits, ok := strings.Cut(digest, ":"); ok && len(hexDigits) > 12 {
			return algo + ":" + hexDigits[:12]
		}
		return digest
	}
	// The tag follows the last colon after the last slash (a registry's port has a slash after it).
	last := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(last, ":"); ok {
		return tag
	}
	return "latest"
}

// MigrationJobName names the Job that migrates the database for image: one Job per
// image, so a retry of the same upgrade finds the same Job.
func (g *Gallery) MigrationJobName(image string) string {
	sum := sha256.Sum256([]byte(image))
	return g.Name + "-migrate-" + hex.EncodeToString(sum[:4])
}
