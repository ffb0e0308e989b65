// Package xar writes xar archives, the container of a macOS flat package:
// a 28-byte header, a zlib-compressed XML table of contents (TOC), and a
// heap that starts with the SHA-1 of the compressed TOC followed by each
// file's data, with SHA-1 checksums of the archived and extracted bytes.
//
// The output is a plain archive with no signature, as productbuild writes
// before productsign adds one, and it is deterministic: entries are sorted,
// ids and heap offsets follow TOC order, and every time in the TOC is
// Options.ModTime.
package xar

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1" //nolint:gosec // the xar format names SHA-1; it is what macOS checks
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"
	"unicode"
)

const (
	magic      = 0x78617221 // "xar!"
	headerSize = 28
	version    = 1
	cksumSHA1  = 1
	sha1Size   = sha1.Size

	encodingNone = "application/octet-stream"
	// xar calls zlib-wrapped deflate "application/x-gzip".
	encodingZlib = "application/x-gzip"
	timeFormat   = "2006-01-02T15:04:05Z"
)

// File is one entry of the archive.
type File struct {
	// Name is the slash-separated path inside the archive
	// ("orbit.pkg/Bom"). Parent directories are created implicitly with
	// mode 0755 unless listed themselves.
	Name string
	// Mode holds the permission bits, plus fs.ModeDir for a directory.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
	// Compress stores the data zlib-compressed, as Apple does for a
	// package's Bom, PackageInfo and Distribution. Payload and Scripts are
	// already gzip archives and are stored as they are.
	Compress bool
}

// Options are the archive-wide settings.
type Options struct {
	// ModTime is every entry's ctime/mtime/atime and the TOC's
	// creation-time.
	ModTime time.Time
}

type node struct {
	name     string
	file     *File
	children map[string]*node
}

// Write writes an archive of files to w. Nothing is written when the
// input is invalid.
func Write(w io.Writer, files []File, opt Options) error {
	if opt.ModTime.Year() < 1970 {
		return fmt.Errorf("xar: ModTime %v is before 1970: set it (SOURCE_DATE_EPOCH)", opt.ModTime)
	}
	root := &node{children: map[string]*node{}}
	for i := range files {
		if err := root.add(&files[i]); err != nil {
			return err
		}
	}
	stamp := opt.ModTime.UTC().Format(timeFormat)
	b := &tocBuilder{stamp: stamp, offset: sha1Size}
	entries, err := b.children(root)
	if err != nil {
		return err
	}
	doc := tocDoc{TOC: toc{
		CreationTime: stamp,
		Checksum:     tocChecksum{Style: "sha1", Offset: 0, Size: sha1Size},
		Files:        entries,
	}}
	plain, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		return fmt.Errorf("xar: encode table of contents: %w", err)
	}
	plain = append([]byte(xml.Header), plain...)
	var packed bytes.Buffer
	zw, err := zlib.NewWriterLevel(&packed, zlib.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(plain); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}

	var hdr [headerSize]byte
	be := binary.BigEndian
	be.PutUint32(hdr[0:], magic)
	be.PutUint16(hdr[4:], headerSize)
	be.PutUint16(hdr[6:], version)
	be.PutUint64(hdr[8:], uint64(packed.Len()))
	be.PutUint64(hdr[16:], uint64(len(plain)))
	be.PutUint32(hdr[24:], cksumSHA1)
	sum := sha1.Sum(packed.Bytes()) //nolint:gosec // format-mandated
	for _, part := range [][]byte{hdr[:], packed.Bytes(), sum[:]} {
		if _, err := w.Write(part); err != nil {
			return err
		}
	}
	for _, h := range b.heap {
		if _, err := w.Write(h); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) add(f *File) error {
	if f.Name == "" || strings.HasPrefix(f.Name, "/") || strings.HasSuffix(f.Name, "/") {
		return fmt.Errorf("xar: name %q must be a relative slash-separated path", f.Name)
	}
	if t := f.Mode.Type(); t != 0 && t != fs.ModeDir {
		return fmt.Errorf("xar: %s: only regular files and directories are supported, not %v", f.Name, t)
	}
	if f.Mode.IsDir() && len(f.Data) > 0 {
		return fmt.Errorf("xar: directory %s cannot have data", f.Name)
	}
	parts := strings.Split(f.Name, "/")
	cur := n
	for i, p := range parts {
		if p == "" || p == "." || p == ".." || strings.IndexFunc(p, badNameRune) >= 0 {
			return fmt.Errorf("xar: name %q: component %q is empty, a dot path or holds a control character", f.Name, p)
		}
		next, ok := cur.children[p]
		last := i == len(parts)-1
		switch {
		case !ok:
			next = &node{name: p, children: map[string]*node{}}
			cur.children[p] = next
		case last && next.file != nil:
			return fmt.Errorf("xar: %s is listed twice", f.Name)
		}
		if !last && next.file != nil && !next.file.Mode.IsDir() {
			return fmt.Errorf("xar: %s: %s is a file, not a directory", f.Name, strings.Join(parts[:i+1], "/"))
		}
		cur = next
	}
	if !f.Mode.IsDir() && len(cur.children) > 0 {
		return fmt.Errorf("xar: %s is a file but other entries are below it", f.Name)
	}
	cur.file = f
	return nil
}

// badNameRune rejects what a TOC cannot carry: XML 1.0 has no way to write
// most control characters, and NUL ends a name on the reading side.
func badNameRune(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }

type tocBuilder struct {
	stamp  string
	nextID int
	offset int64
	heap   [][]byte
}

// children lists n's entries in name order, depth first, which is also
// the heap order, so the ids and offsets depend only on the names.
func (b *tocBuilder) children(n *node) ([]tocFile, error) {
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]tocFile, 0, len(names))
	for _, k := range names {
		c := n.children[k]
		b.nextID++
		e := tocFile{
			ID: b.nextID, Name: c.name,
			CTime: b.stamp, MTime: b.stamp, ATime: b.stamp,
			Group: "wheel", GID: 0, User: "root", UID: 0,
		}
		isDir := c.file == nil || c.file.Mode.IsDir()
		switch {
		case isDir:
			e.Type = "directory"
			e.Mode = "0755"
			if c.file != nil {
				e.Mode = fmt.Sprintf("%04o", uint32(c.file.Mode.Perm()))
			}
			kids, err := b.children(c)
			if err != nil {
				return nil, err
			}
			e.Files = kids
		default:
			e.Type = "file"
			e.Mode = fmt.Sprintf("%04o", uint32(c.file.Mode.Perm()))
			d, err := b.data(c.file)
			if err != nil {
				return nil, err
			}
			e.Data = d
		}
		out = append(out, e)
	}
	return out, nil
}

func (b *tocBuilder) data(f *File) (*tocData, error) {
	stored, style := f.Data, encodingNone
	if f.Compress {
		var buf bytes.Buffer
		zw, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(f.Data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		stored, style = buf.Bytes(), encodingZlib
	}
	d := &tocData{
		Length:            int64(len(stored)),
		Offset:            b.offset,
		Size:              int64(len(f.Data)),
		Encoding:          tocEncoding{Style: style},
		ArchivedChecksum:  tocHash{Style: "sha1", Value: sha1Hex(stored)},
		ExtractedChecksum: tocHash{Style: "sha1", Value: sha1Hex(f.Data)},
	}
	b.offset += int64(len(stored))
	b.heap = append(b.heap, stored)
	return d, nil
}

func sha1Hex(p []byte) string {
	s := sha1.Sum(p) //nolint:gosec // format-mandated
	return hex.EncodeToString(s[:])
}

// The TOC, in the element order xar itself writes.
type tocDoc struct {
	XMLName xml.Name `xml:"xar"`
	TOC     toc      `xml:"toc"`
}

type toc struct {
	CreationTime string      `xml:"creation-time"`
	Checksum     tocChecksum `xml:"checksum"`
	Files        []tocFile   `xml:"file"`
}

type tocChecksum struct {
	Style  string `xml:"style,attr"`
	Offset int64  `xml:"offset"`
	Size   int64  `xml:"size"`
}

type tocFile struct {
	ID    int       `xml:"id,attr"`
	Data  *tocData  `xml:"data,omitempty"`
	CTime string    `xml:"ctime"`
	MTime string    `xml:"mtime"`
	ATime string    `xml:"atime"`
	Group string    `xml:"group"`
	GID   int       `xml:"gid"`
	User  string    `xml:"user"`
	UID   int       `xml:"uid"`
	Mode  string    `xml:"mode"`
	Type  string    `xml:"type"`
	Name  string    `xml:"name"`
	Files []tocFile `xml:"file"`
}

type tocData struct {
	Length            int64       `xml:"length"`
	Offset            int64       `xml:"offset"`
	Size              int64       `xml:"size"`
	Encoding          tocEncoding `xml:"encoding"`
	ArchivedChecksum  tocHash     `xml:"archived-checksum"`
	ExtractedChecksum tocHash     `xml:"extracted-checksum"`
}

type tocEncoding struct {
	Style string `xml:"style,attr"`
}

type tocHash struct {
	Style string `xml:"style,attr"`
	Value string `xml:",chardata"`
}
