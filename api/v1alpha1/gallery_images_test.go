package v1alpha1

import "testing"

func TestWithDefaultImages(t *testing.T) {
	d := DefaultImages{Gallery: "mirror.example/sortographer/sortographer:v0.3.0", RedisRepository: "mirror.example/library/redis", MariaDBRepository: "mirror.example/library/mariadb"}
	tests := []struct {
		name                   string
		server, redis, mariadb string
		// want* are the images after defaulting.
		wantServer, wantRedis, wantMariaDB string
		pins                               bool
	}{
		{name: "nothing pinned: the operator's images", wantServer: d.Gallery,
			wantRedis: "mirror.example/library/redis:7.4-alpine", wantMariaDB: "mirror.example/library/mariadb:11.4"},
		{name: "the v0.2.0 CRD's default does not pin", server: "ghcr.io/sortographer/sortographer:v0.2.0", wantServer: d.Gallery,
			wantRedis: "mirror.example/library/redis:7.4-alpine", wantMariaDB: "mirror.example/library/mariadb:11.4"},
		{name: "pinned images stay", server: "ghcr.io/sortographer/sortographer@sha256:0123", redis: "redis:7.2", mariadb: "mariadb:10.11",
			wantServer: "ghcr.io/sortographer/sortographer@sha256:0123", wantRedis: "redis:7.2", wantMariaDB: "mariadb:10.11", pins: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Gallery{}
			g.Spec.Server.Image = tt.server
			g.Spec.Cache.Managed = &ManagedRedisSpec{Version: "7.4", Image: tt.redis}
			g.Spec.Database.Managed = &ManagedDatabaseSpec{Version: "11.4", Image: tt.mariadb}
			if g.PinsGalleryImage() != tt.pins {
				t.Errorf("PinsGalleryImage = %v, want %v", g.PinsGalleryImage(), tt.pins)
			}
			g.WithDefaultImages(d)
			if g.Spec.Server.Image != tt.wantServer || g.RedisImage() != tt.wantRedis || g.MariaDBImage() != tt.wantMariaDB {
				t.Errorf("images %s, %s, %s; want %s, %s, %s", g.Spec.Server.Image, g.RedisImage(), g.MariaDBImage(), tt.wantServer, tt.wantRedis, tt.wantMariaDB)
			}
		})
	}
	// External Redis and database: nothing to fill.
	g := &Gallery{}
	g.WithDefaultImages(d)
	if g.RedisImage() != "" || g.MariaDBImage() != "" {
		t.Errorf("external components got images %q %q", g.RedisImage(), g.MariaDBImage())
	}
}

func TestImageVersion(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/sortographer/sortographer:v0.3.0":                                                                         "v0.3.0",
		"127.0.0.1:5000/sortographer/sortographer:v0.3.0-rc1":                                                              "v0.3.0-rc1",
		"127.0.0.1:5000/sortographer/sortographer":                                                                         "latest",
		"ghcr.io/sortographer/sortographer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":        "sha256:0123456789ab",
		"ghcr.io/sortographer/sortographer:v0.3.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "sha256:0123456789ab",
	} {
		if got := ImageVersion(ref); got != want {
			t.Errorf("ImageVersion(%q) = %q, want %q", ref, got, want)
		}
	}
}
