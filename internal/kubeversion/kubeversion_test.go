package kubeversion

import "testing"

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		major, minor string
		want         int
		wantErr      bool
	}{
		{"1", "30", 30, false},
		{"1", "37", 37, false},
		{"1", "30+", 30, false}, // EKS, GKE
		{"1+", "33+", 33, false},
		{"1", "", 0, true},
		{"1", "x", 0, true},
		{"2", "0", 0, true},
	} {
		got, err := parse(tt.major, tt.minor)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parse(%q, %q) = %d, %v; want %d, error %v", tt.major, tt.minor, got, err, tt.want, tt.wantErr)
		}
	}
}
