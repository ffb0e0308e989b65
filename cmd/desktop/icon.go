//go:build !darwin || cgo

package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
)

// iconPNG draws the tray icon (a ring and a dot, in Fleet's purple) at
// size pixels, so the binary carries no image files.
func iconPNG(size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	c := float64(size-1) / 2
	ink := color.NRGBA{R: 0x6a, G: 0x67, B: 0xfe, A: 0xff}
	for y := range size {
		for x := range size {
			dx, dy := float64(x)-c, float64(y)-c
			d := dx*dx + dy*dy
			r := c * c
			if (d <= r && d >= r*0.55) || d <= r*0.15 {
				img.SetNRGBA(x, y, ink)
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // cannot fail on an in-memory image
	return b.Bytes()
}

// icoFromPNG wraps a PNG in an ICO container (Windows Vista and later read
// PNG entries), which systray wants on Windows.
func icoFromPNG(p []byte, size int) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(uint16(0)) // reserved
	w(uint16(1)) // type: icon
	w(uint16(1)) // one image
	dim := uint8(size)
	if size >= 256 {
		dim = 0
	}
	b.WriteByte(dim)  // width
	b.WriteByte(dim)  // height
	b.WriteByte(0)    // no palette
	b.WriteByte(0)    // reserved
	w(uint16(1))      // colour planes
	w(uint16(32))     // bits per pixel
	w(uint32(len(p))) // image size
	w(uint32(6 + 16)) // image offset
	b.Write(p)
	return b.Bytes()
}
