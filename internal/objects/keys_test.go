package objects

import (
	"errors"
	"strings"
	"testing"
)

func TestImageKeys(t *testing.T) {
	k, err := ImageKeys("42", "01JABCDEF-xyz_1")
	if err != nil {
		t.Fatalf("ImageKeys: %v", err)
	}
	if want := "images/42/01JABCDEF-xyz_1/original"; k.Original != want {
		t.Errorf("Original = %q, want %q", k.Original, want)
	}
	if want := "images/42/01JABCDEF-xyz_1/thumb.jpg"; k.Thumbnail != want {
		t.Errorf("Thumbnail = %q, want %q", k.Thumbnail, want)
	}
	if want := "images/42/01JABCDEF-xyz_1/display.jpg"; k.Display != want {
		t.Errorf("Display = %q, want %q", k.Display, want)
	}
	if want := "images/42/01JABCDEF-xyz_1/shared"; k.Shared != want {
		t.Errorf("Shared = %q, want %q", k.Shared, want)
	}
	for _, key := range k.All() {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ImageKeys made a key that ValidateKey refuses: %v", err)
		}
	}
}

func TestImageKeysRefusesBadIDs(t *testing.T) {
	for _, tc := range []struct{ name, owner, image string }{
		{"empty owner", "", "1"},
		{"empty image", "1", ""},
		{"dot dot", "..", "1"},
		{"slash", "1", "a/b"},
		{"leading dash", "1", "-a"},
		{"leading underscore", "_a", "1"},
		{"dot", "1", "photo.jpg"},
		{"space", "1", "a b"},
		{"backslash", `a\b`, "1"},
		{"unicode", "1", "é"},
		{"null byte", "1", "a\x00"},
		{"too long", strings.Repeat("a", 65), "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImageKeys(tc.owner, tc.image)
			if !errors.Is(err, ErrInvalidID) {
				t.Errorf("ImageKeys(%q, %q) error = %v, want ErrInvalidID", tc.owner, tc.image, err)
			}
		})
	}
}

func TestValidateKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"images/1/2/original", true},
		{"thumb.jpg", true},
		{"a/b-c_d.e/f", true},
		{"", false},
		{"/etc/passwd", false},
		{"../outside", false},
		{"a/../../b", false},
		{"a/./b", false},
		{"a//b", false},
		{"a/", false},
		{".hidden", false},
		{"a/.original.content-type", false},
		{`a\..\b`, false},
		{"a b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"naïve", false},
		{"\xff", false},
		{strings.Repeat("a", 901), false},
	} {
		err := ValidateKey(tc.key)
		if tc.ok && err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", tc.key, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", tc.key, err)
		}
	}
}
