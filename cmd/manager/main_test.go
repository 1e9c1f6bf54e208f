package main

import (
	"math"
	"runtime/debug"
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

// TestSetMemoryLimit: the chart's SORTOGRAPHER_MEMORY_LIMIT (the container's limit in
// bytes) becomes a Go memory limit of 90% of it; an admin's own GOMEMLIMIT wins; a
// malformed value is refused rather than ignored.
func TestSetGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	if got := setGCPercent("200"); got != 0 || debug.SetGCPercent(100) != 100 {
		t.Errorf("with GOGC set: set %d and changed the runtime's percent", got)
	}
	if got := setGCPercent(""); got != defaultGCPercent || debug.SetGCPercent(100) != defaultGCPercent {
		t.Errorf("without GOGC: set %d, want %d in the runtime", got, defaultGCPercent)
	}
}

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	tests := []struct {
		name                  string
		goMemLimit, container string
		want                  int64 // the limit set; 0 for none
		wantErr               bool
	}{
		{name: "from the container's 512Mi", container: "536870912", want: 483183820},
		{name: "an admin's GOMEMLIMIT wins", goMemLimit: "300MiB", container: "536870912"},
		{name: "no container limit passed", want: 0},
		{name: "malformed", container: "lots", wantErr: true},
		{name: "zero", container: "0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			got, err := setMemoryLimit(tt.goMemLimit, tt.container)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("set %d, want %d", got, tt.want)
			}
			runtimeLimit := debug.SetMemoryLimit(-1)
			if tt.want > 0 && runtimeLimit != tt.want {
				t.Errorf("runtime's limit %d, want %d", runtimeLimit, tt.want)
			}
			if tt.want == 0 && runtimeLimit != math.MaxInt64 {
				t.Errorf("runtime's limit changed to %d", runtimeLimit)
			}
		})
	}
}
