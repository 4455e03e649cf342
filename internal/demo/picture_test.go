package demo

import (
	"bytes"
	"image/jpeg"
	"testing"
)

func TestPictureAboutTheSizeAsked(t *testing.T) {
	b, err := Picture(200 << 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	again, _ := Picture(200 << 10)
	if !bytes.Equal(b, again) {
		t.Fatal("the picture differs between runs")
	}
	t.Logf("%d bytes", len(b))
}
