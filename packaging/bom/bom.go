// Package bom writes Apple's Bill of Materials ("BOMStore"), the Bom file
// of a macOS component package: the list of every path the Payload
// installs, with its mode, owner, group, mtime, size, POSIX cksum and link
// target. The installer records it as the package receipt (`pkgutil
// --files`, `lsbom`).
//
// Apple has not published the format. This writer follows what bomutils'
// mkbom (github.com/hogliux/bomutils) writes, which macOS installers
// accept, with the per-entry layout and flag values that stuckliste
// (github.com/igankevich/stuckliste) and Fleet's Go writer observed in
// Apple's own mkbom output:
//
//   - a 512-byte header: "BOMStore", version 1, the number of non-null
//     blocks, and the offsets and lengths of the block table and the
//     variables;
//   - named variables BomInfo, Paths, HLIndex, VIndex and Size64, each
//     pointing at a block;
//   - Paths, a B-tree ("tree" block, 4096-byte nodes) whose leaves hold up
//     to 256 (key, value) pairs: the key is {id, metadata block}, the value
//     {parent id, name}; ids are given breadth first, children in name
//     order, so the leaves are sorted by (parent id, name). With more than
//     one leaf, an index node lists each leaf with its last value, and the
//     leaves are chained forward and backward;
//   - empty HLIndex (no hard links), VIndex and Size64 trees (no file
//     reaches 4 GiB: Write refuses one).
//
// Writing is deterministic: the same entries, in any order, give the same
// bytes.
package bom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/orbitagent/orbit/packaging/internal/unixmode"
)

const (
	headerSize    = 512
	treeBlockSize = 4096
	// leafCapacity is how many paths one Paths leaf holds, as mkbom
	// splits them.
	leafCapacity = 256
	// indexCapacity is how many leaves one 4096-byte index node can list.
	indexCapacity = (treeBlockSize - 12) / 8

	typeFile = 1
	typeDir  = 2
	typeLink = 3
	// flags of a full (not path-only) entry for a file that is not a
	// Mach-O binary.
	entryFlags = 0x000f
)

// Entry is one path of the bill of materials.
type Entry struct {
	// Path is "." for the root of the payload and "./opt/orbit" below it,
	// as lsbom prints it. Every parent must be an entry too.
	Path string
	// Mode holds the permission bits and fs.ModeDir or fs.ModeSymlink.
	Mode     fs.FileMode
	UID, GID uint32
	ModTime  time.Time
	// Data is a regular file's content; the size and checksum come from it.
	Data []byte
	// LinkTarget is a symlink's target.
	LinkTarget string
}

// Checksum is the POSIX cksum (CRC-32, polynomial 0x04C11DB7, MSB first,
// over the data and then its length) that BOM entries record and that
// `cksum` prints.
func Checksum(p []byte) uint32 {
	var crc uint32
	for _, b := range p {
		crc = crc<<8 ^ cksumTable[byte(crc>>24)^b]
	}
	for n := uint64(len(p)); n != 0; n >>= 8 {
		crc = crc<<8 ^ cksumTable[byte(crc>>24)^byte(n)]
	}
	return ^crc
}

var cksumTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

type node struct {
	e        *Entry
	name     string
	id       uint32
	parent   uint32
	children []*node
}

// Write writes the bill of materials of entries to w. Nothing is written
// when the entries are invalid.
func Write(w io.Writer, entries []Entry) error {
	order, err := tree(entries)
	if err != nil {
		return err
	}
	b := &store{blocks: [][]byte{nil}}

	type pair struct{ key, value uint32 }
	pairs := make([]pair, 0, len(order))
	var total uint32 // wraps past 4 GiB, as BomInfo's 32-bit field does
	for _, n := range order {
		info, size, err := pathInfo(n.e)
		if err != nil {
			return err
		}
		total += size
		infoBlock := b.add(info)
		key := b.add(be32(n.id, infoBlock))
		value := b.add(append(be32(n.parent), append([]byte(n.name), 0)...))
		pairs = append(pairs, pair{key, value})
	}

	nLeaves := (len(pairs) + leafCapacity - 1) / leafCapacity
	if nLeaves > indexCapacity {
		return fmt.Errorf("bom: %d paths is more than one index node can hold (%d)", len(pairs), indexCapacity*leafCapacity)
	}
	// Reserve the leaf blocks first: each leaf names its neighbours.
	leafIDs := make([]uint32, nLeaves)
	for i := range leafIDs {
		leafIDs[i] = b.add(nil)
	}
	index := treeNode(false, 0, 0)
	for i, id := range leafIDs {
		chunk := pairs[i*leafCapacity : min((i+1)*leafCapacity, len(pairs))]
		var fwd, back uint32
		if i > 0 {
			back = leafIDs[i-1]
		}
		if i+1 < nLeaves {
			fwd = leafIDs[i+1]
		}
		leaf := treeNode(true, fwd, back)
		for _, p := range chunk {
			leaf = append(leaf, be32(p.key, p.value)...)
		}
		binary.BigEndian.PutUint16(leaf[2:], uint16(len(chunk)))
		b.blocks[id] = leaf
		index = append(index, be32(id, chunk[len(chunk)-1].value)...)
	}
	root := leafIDs[0]
	if nLeaves > 1 {
		binary.BigEndian.PutUint16(index[2:], uint16(nLeaves))
		root = b.add(index)
	}

	bomInfo := be32(1, uint32(len(order))+1, 1, 0, 0, total, 0)
	vars := []struct {
		name  string
		block uint32
	}{
		{"BomInfo", b.add(bomInfo)},
		{"Paths", b.add(treeHeader(root, treeBlockSize, uint32(len(order))))},
		{"HLIndex", b.add(treeHeader(b.add(treeNode(true, 0, 0)), treeBlockSize, 0))},
		{"VIndex", b.add(append(be32(1, b.add(treeHeader(b.add(treeNode(true, 0, 0)), 128, 0)), 0), 1))},
		{"Size64", b.add(treeHeader(b.add(treeNode(true, 0, 0)), 128, 0))},
	}
	varsData := be32(uint32(len(vars)))
	for _, v := range vars {
		varsData = append(varsData, be32(v.block)...)
		varsData = append(varsData, byte(len(v.name)))
		varsData = append(varsData, v.name...)
	}

	// Layout: header, variables, blocks, block table, free list.
	var table []byte
	table = append(table, be32(uint32(len(b.blocks)))...)
	addr := uint32(headerSize + len(varsData))
	for i, blk := range b.blocks {
		if i == 0 {
			table = append(table, be32(0, 0)...)
			continue
		}
		table = append(table, be32(addr, uint32(len(blk)))...)
		addr += uint32(len(blk))
	}
	// An empty free list, with the two spare slots mkbom leaves.
	table = append(table, be32(0, 0, 0, 0, 0)...)

	hdr := make([]byte, headerSize)
	copy(hdr, "BOMStore")
	copy(hdr[8:], be32(1, uint32(len(b.blocks)-1), addr, uint32(len(table)), headerSize, uint32(len(varsData))))

	var out bytes.Buffer
	out.Grow(int(addr) + len(table))
	out.Write(hdr)
	out.Write(varsData)
	for _, blk := range b.blocks {
		out.Write(blk)
	}
	out.Write(table)
	_, err = w.Write(out.Bytes())
	return err
}

// tree checks the entries and returns them breadth first, children in
// name order, with their ids and parent ids set.
func tree(entries []Entry) ([]*node, error) {
	byPath := make(map[string]*node, len(entries))
	for i := range entries {
		e := &entries[i]
		if _, dup := byPath[e.Path]; dup {
			return nil, fmt.Errorf("bom: %s is listed twice", e.Path)
		}
		if e.Path != "." {
			rest, ok := strings.CutPrefix(e.Path, "./")
			if !ok {
				return nil, fmt.Errorf("bom: path %q must be \".\" or start with \"./\"", e.Path)
			}
			for _, c := range strings.Split(rest, "/") {
				if c == "" || c == "." || c == ".." || strings.IndexByte(c, 0) >= 0 {
					return nil, fmt.Errorf("bom: path %q has an empty, dot or NUL-holding component", e.Path)
				}
			}
		}
		byPath[e.Path] = &node{e: e}
	}
	root, ok := byPath["."]
	if !ok || !root.e.Mode.IsDir() {
		return nil, fmt.Errorf("bom: the root \".\" must be listed as a directory")
	}
	root.name = "."
	for k := range entries {
		p := entries[k].Path
		if p == "." {
			continue
		}
		n := byPath[p]
		i := strings.LastIndexByte(p, '/')
		parent, ok := byPath[p[:i]]
		if !ok {
			return nil, fmt.Errorf("bom: %s: parent %s is not listed", p, p[:i])
		}
		if !parent.e.Mode.IsDir() {
			return nil, fmt.Errorf("bom: %s: parent %s is not a directory", p, p[:i])
		}
		n.name = p[i+1:]
		parent.children = append(parent.children, n)
	}
	order := []*node{root}
	root.id = 1
	for i := 0; i < len(order); i++ {
		n := order[i]
		sort.Slice(n.children, func(a, b int) bool { return n.children[a].name < n.children[b].name })
		for _, c := range n.children {
			c.parent = n.id
			c.id = uint32(len(order) + 1)
			order = append(order, c)
		}
	}
	return order, nil
}

// pathInfo encodes an entry's metadata block and returns the size it
// counts toward the total.
func pathInfo(e *Entry) ([]byte, uint32, error) {
	mode, err := unixmode.Of(e.Mode)
	if err != nil {
		return nil, 0, fmt.Errorf("bom: %s: %w", e.Path, err)
	}
	mtime := e.ModTime.Unix()
	if mtime < 0 || mtime > 1<<32-1 {
		return nil, 0, fmt.Errorf("bom: %s: mtime %v does not fit 32 bits since 1970", e.Path, e.ModTime)
	}
	var typ byte
	var size uint32
	var tail []byte
	switch e.Mode.Type() {
	case 0:
		if e.LinkTarget != "" {
			return nil, 0, fmt.Errorf("bom: regular file %s cannot have a link target", e.Path)
		}
		if int64(len(e.Data)) > 1<<32-1 {
			return nil, 0, fmt.Errorf("bom: %s is 4 GiB or larger, which needs Size64 entries this writer does not make", e.Path)
		}
		typ, size = typeFile, uint32(len(e.Data))
		tail = be32(Checksum(e.Data))
	case fs.ModeDir:
		if len(e.Data) > 0 || e.LinkTarget != "" {
			return nil, 0, fmt.Errorf("bom: directory %s cannot have data or a link target", e.Path)
		}
		typ = typeDir
	case fs.ModeSymlink:
		if e.LinkTarget == "" || strings.IndexByte(e.LinkTarget, 0) >= 0 || len(e.Data) > 0 {
			return nil, 0, fmt.Errorf("bom: symlink %s needs a target without NUL bytes and no data", e.Path)
		}
		typ, size = typeLink, uint32(len(e.LinkTarget))
		tail = be32(Checksum([]byte(e.LinkTarget)), uint32(len(e.LinkTarget)+1))
		tail = append(append(tail, e.LinkTarget...), 0)
	}
	info := []byte{typ, 1}
	info = binary.BigEndian.AppendUint16(info, entryFlags)
	info = binary.BigEndian.AppendUint16(info, uint16(mode))
	info = append(info, be32(e.UID, e.GID, uint32(mtime), size)...)
	info = append(info, 1)
	info = append(info, tail...)
	// Apple's mkbom ends every metadata block with eight zero bytes.
	info = append(info, make([]byte, 8)...)
	if e.Mode.IsRegular() {
		return info, size, nil
	}
	return info, 0, nil
}

type store struct{ blocks [][]byte }

func (s *store) add(p []byte) uint32 {
	s.blocks = append(s.blocks, p)
	return uint32(len(s.blocks) - 1)
}

func treeNode(leaf bool, fwd, back uint32) []byte {
	var isLeaf uint16
	if leaf {
		isLeaf = 1
	}
	b := binary.BigEndian.AppendUint16(nil, isLeaf)
	b = binary.BigEndian.AppendUint16(b, 0) // count, set by the caller
	return append(b, be32(fwd, back)...)
}

func treeHeader(child, blockSize, count uint32) []byte {
	b := append([]byte("tree"), be32(1, child, blockSize, count)...)
	return append(b, 0)
}

func be32(vs ...uint32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}
