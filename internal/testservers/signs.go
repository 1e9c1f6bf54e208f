package testservers

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// notoCJK is Debian's Noto Sans CJK (fonts-noto-cjk), which draws Latin and Hangul.
const notoCJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

// Photos with writing on them, as the text readers' tests read them: darknet's photos
// with a sign drawn in by ImageMagick.
const (
	// ReceiptWords are the lines of ReceiptPhoto's card.
	ReceiptWords = "SORTOGRAPHER receipt\ntotal 42"
	// SubwayWords is SubwayPhoto's sign, in Korean ("Seoul subway information").
	SubwayWords = "서울 지하철 안내"
)

// ReceiptPhoto is darknet's dog.jpg at 1600×1200 with a receipt-like card, dark on
// off-white, over the porch; SubwayPhoto is its horses.jpg with a subway sign, white on
// blue, over the field. Each is a JPEG file in t's temporary folder.
func ReceiptPhoto(t testing.TB) string {
	return signPhoto(t, "/usr/share/darknet/data/dog.jpg", "1600x1200", "420,120 1180,330", "rgb(245,242,230)", "#1a1a1a", 52, [2]int{470, 120},
		"SORTOGRAPHER receipt", "total 42")
}

// SubwayPhoto: see ReceiptPhoto.
func SubwayPhoto(t testing.TB) string {
	return signPhoto(t, "/usr/share/darknet/data/horses.jpg", "1600x1067", "300,80 1300,300", "rgb(28,72,160)", "white", 96, [2]int{350, 80},
		SubwayWords)
}

// signPhoto scales photo to size and draws a box filled with fill and lines in ink, in
// the Noto CJK font at points, from at (ImageMagick, by its Debian name: `convert` on
// PATH may be another program).
func signPhoto(t testing.TB, photo, size, box, fill, ink string, points int, at [2]int, lines ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sign.jpg")
	args := []string{photo, "-resize", size + "!", "-fill", fill, "-draw", "rectangle " + box,
		"-font", notoCJK, "-fill", ink, "-pointsize", fmt.Sprint(points)}
	for i, l := range lines {
		args = append(args, "-annotate", fmt.Sprintf("+%d+%d", at[0], at[1]+points*3/2*(i+1)), l)
	}
	args = append(args, "-quality", "90", out)
	if b, err := exec.Command("convert-im6.q16", args...).CombinedOutput(); err != nil {
		t.Fatalf("convert-im6.q16 (hack/install-deps.sh installs imagemagick, fonts-noto-cjk and darknet): %v\n%s", err, b)
	}
	return out
}
