package main

import (
	"strings"
	"testing"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestCheckImages(t *testing.T) {
	ok := galleryv1alpha1.BuiltinDefaultImages()
	if err := checkImages(ok); err != nil {
		t.Fatalf("the built-in defaults are refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*galleryv1alpha1.DefaultImages)
		flag string
	}{
		{"upper case in the repository", func(d *galleryv1alpha1.DefaultImages) { d.Gallery = "ghcr.io/Sortographer/app:v1" }, "--gallery-image"},
		{"whitespace", func(d *galleryv1alpha1.DefaultImages) { d.Gallery = "ghcr.io/sortographer/app :v1" }, "--gallery-image"},
		{"a tag on a repository", func(d *galleryv1alpha1.DefaultImages) { d.RedisRepository = "docker.io/library/redis:7" }, "--redis-repository"},
		{"empty", func(d *galleryv1alpha1.DefaultImages) { d.MariaDBRepository = "" }, "--mariadb-repository"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := ok
			c.edit(&d)
			err := checkImages(d)
			if err == nil || !strings.Contains(err.Error(), c.flag) {
				t.Errorf("checkImages = %v, want an error naming %s", err, c.flag)
			}
		})
	}
}
