package specs

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// settingNames are the SORTOGRAPHER_* names internal/config reads, from its struct tags.
func settingNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); strings.HasPrefix(name, "SORTOGRAPHER_") {
			names = append(names, name)
		}
		if f.Type.Kind() == reflect.Struct {
			names = append(names, settingNames(f.Type)...)
		}
	}
	return names
}

// TestAdminSettingsEnvAreNeverTheOperators: the SORTOGRAPHER_* names the schema lets an
// admin set in spec.server.env and spec.workers.env (AdminSettingsEnv) are settings the
// gallery reads and that the operator sets in no shape of Gallery, neither in the
// ConfigMap nor in a container's own environment; so an admin's entry never replaces
// one of the operator's.
func TestAdminSettingsEnvAreNeverTheOperators(t *testing.T) {
	read := settingNames(reflect.TypeFor[config.Config]())
	for _, name := range galleryv1alpha1.AdminSettingsEnv {
		if !slices.Contains(read, name) {
			t.Errorf("%s is not a setting internal/config reads", name)
		}
	}
	for name, g := range map[string]*galleryv1alpha1.Gallery{
		"default":            gallery(),
		"S3 and Rekognition": gallery(withS3(), withRekognition()),
		"external MySQL":     gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withExternalRedis()),
		"external Postgres":  gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres)),
		"embedded":           gallery(withEmbeddedDatabase()),
	} {
		set := map[string]bool{}
		for k := range ConfigMap(g).Data {
			set[k] = true
		}
		for _, d := range []*appsv1.Deployment{ServerDeployment(g, "h"), WorkersDeployment(g, "h", nil)} {
			if d == nil {
				continue // no workers beside an embedded database
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					set[e.Name] = true
				}
			}
		}
		if !set[config.EnvListenAddr] {
			t.Fatalf("%s: the operator's settings %v lack %s: the test reads the wrong objects", name, set, config.EnvListenAddr)
		}
		for _, admin := range galleryv1alpha1.AdminSettingsEnv {
			if set[admin] {
				t.Errorf("%s: the operator sets %s, which the schema lets an admin set too", name, admin)
			}
		}
	}
}
