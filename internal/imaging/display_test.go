package imaging

import (
	"context"
	"testing"
)

// TestDisplayJPEGEveryFormat: every accepted format's display JPEG is upright and never
// enlarged; a larger photo is scaled to DisplaySide.
func TestDisplayJPEGEveryFormat(t *testing.T) {
	for _, tc := range formatCases() {
		t.Run(tc.name, func(t *testing.T) {
			out, err := DisplayJPEG(context.Background(), tc.data(t))
			if err != nil {
				t.Fatalf("DisplayJPEG: %v", err)
			}
			w, h := 1200, 800
			if tc.orientation.swapsAxes() {
				w, h = 800, 1200
			}
			upright(t, decodeJPEG(t, out), tc.orientation, w, h)
		})
	}
	t.Run("huge jpeg, 96 megapixels", func(t *testing.T) {
		out, err := DisplayJPEG(context.Background(), sample(t, "huge.jpg"))
		if err != nil {
			t.Fatalf("DisplayJPEG: %v", err)
		}
		if b := decodeJPEG(t, out).Bounds(); b.Dx() != DisplaySide || b.Dy() != 1707 {
			t.Errorf("12000×8000 shown at %d×%d, want %d×1707", b.Dx(), b.Dy(), DisplaySide)
		}
	})
}
