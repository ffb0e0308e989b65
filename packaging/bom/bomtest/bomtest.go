// Package bomtest reads a BOMStore for tests. It is written from the
// format notes (bomutils' bom.h and lsbom, stuckliste's format reference),
// not from package bom's writer, so a test that writes with one and reads
// with the other checks the bytes against the format rather than against
// itself. It checks the structure strictly: block bounds, the variables,
// the Paths B-tree (index node, leaf chain, sort order) and each entry's
// metadata block.
package bomtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Entry is one path as the BOM records it.
type Entry struct {
	Path       string // "./opt/orbit", as lsbom prints it
	ID, Parent uint32
	Type       byte // 1 file, 2 directory, 3 symlink, 4 device
	Flags      uint16
	Mode       uint16 // st_mode: type and permission bits
	UID, GID   uint32
	MTime      uint32
	Size       uint32
	Checksum   uint32 // files and symlinks
	LinkTarget string
}

// BOM is what Read found.
type BOM struct {
	Entries []Entry // in the leaves' order
	// Leaves is the number of leaf nodes of the Paths tree, and Levels
	// its height (1: the root is a leaf).
	Leaves, Levels int
	Vars           []string // variable names in file order
	NumPaths       uint32   // BomInfo's path count
}

// ByPath indexes the entries by path.
func (b *BOM) ByPath() map[string]Entry {
	m := make(map[string]Entry, len(b.Entries))
	for _, e := range b.Entries {
		m[e.Path] = e
	}
	return m
}

type reader struct {
	data   []byte
	blocks [][2]uint32
}

var be = binary.BigEndian

// Read parses a BOMStore.
func Read(data []byte) (*BOM, error) {
	if len(data) < 32 || string(data[:8]) != "BOMStore" {
		return nil, errors.New("not a BOMStore")
	}
	if v := be.Uint32(data[8:]); v != 1 {
		return nil, fmt.Errorf("version %d, want 1", v)
	}
	nonNull := be.Uint32(data[12:])
	indexOff, indexLen := be.Uint32(data[16:]), be.Uint32(data[20:])
	varsOff, varsLen := be.Uint32(data[24:]), be.Uint32(data[28:])
	if uint64(indexOff)+uint64(indexLen) > uint64(len(data)) || uint64(varsOff)+uint64(varsLen) > uint64(len(data)) {
		return nil, errors.New("index or variables beyond the end of the file")
	}
	r := &reader{data: data}
	index := data[indexOff : indexOff+indexLen]
	if len(index) < 4 {
		return nil, errors.New("short block table")
	}
	n := be.Uint32(index)
	if uint64(4)+uint64(n)*8+4 > uint64(len(index)) {
		return nil, errors.New("block table longer than its space")
	}
	var counted uint32
	for i := uint32(0); i < n; i++ {
		addr, size := be.Uint32(index[4+8*i:]), be.Uint32(index[8+8*i:])
		if uint64(addr)+uint64(size) > uint64(len(data)) {
			return nil, fmt.Errorf("block %d [%d,+%d) beyond the end of the file", i, addr, size)
		}
		if addr != 0 || size != 0 {
			counted++
		}
		r.blocks = append(r.blocks, [2]uint32{addr, size})
	}
	if r.blocks[0] != [2]uint32{} {
		return nil, errors.New("block 0 is not the null block")
	}
	if counted != nonNull {
		return nil, fmt.Errorf("header counts %d non-null blocks, table has %d", nonNull, counted)
	}
	free := index[4+8*n:]
	if nf := be.Uint32(free); uint64(4)+uint64(nf)*8 > uint64(len(free)) {
		return nil, errors.New("free list longer than its space")
	}

	out := &BOM{}
	vars := data[varsOff : varsOff+varsLen]
	if len(vars) < 4 {
		return nil, errors.New("short variables")
	}
	count := be.Uint32(vars)
	p := vars[4:]
	named := map[string]uint32{}
	for i := uint32(0); i < count; i++ {
		if len(p) < 5 || len(p) < 5+int(p[4]) {
			return nil, errors.New("truncated variable")
		}
		idx, name := be.Uint32(p), string(p[5:5+int(p[4])])
		named[name] = idx
		out.Vars = append(out.Vars, name)
		p = p[5+int(p[4]):]
	}
	for _, want := range []string{"BomInfo", "Paths", "HLIndex", "VIndex", "Size64"} {
		if _, ok := named[want]; !ok {
			return nil, fmt.Errorf("variable %s missing", want)
		}
	}

	info, err := r.block(named["BomInfo"])
	if err != nil || len(info) < 12 || be.Uint32(info) != 1 {
		return nil, fmt.Errorf("bad BomInfo %x: %v", info, err)
	}
	out.NumPaths = be.Uint32(info[4:])
	if ne := be.Uint32(info[8:]); uint64(12)+uint64(ne)*16 != uint64(len(info)) {
		return nil, fmt.Errorf("BomInfo has %d entries but %d bytes", ne, len(info))
	}
	for _, name := range []string{"HLIndex", "Size64"} {
		if _, err := r.emptyTree(named[name]); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	vi, err := r.block(named["VIndex"])
	if err != nil || len(vi) != 13 || be.Uint32(vi) != 1 {
		return nil, fmt.Errorf("bad VIndex %x: %v", vi, err)
	}
	if _, err := r.emptyTree(be.Uint32(vi[4:])); err != nil {
		return nil, fmt.Errorf("VIndex tree: %w", err)
	}

	if err := r.paths(named["Paths"], out); err != nil {
		return nil, fmt.Errorf("Paths: %w", err)
	}
	return out, nil
}

func (r *reader) block(i uint32) ([]byte, error) {
	if i == 0 || int(i) >= len(r.blocks) {
		return nil, fmt.Errorf("block index %d out of range", i)
	}
	b := r.blocks[i]
	return r.data[b[0] : b[0]+b[1]], nil
}

type treeHead struct {
	child, blockSize, count uint32
}

func (r *reader) tree(i uint32) (treeHead, error) {
	b, err := r.block(i)
	if err != nil {
		return treeHead{}, err
	}
	if len(b) != 21 || string(b[:4]) != "tree" || be.Uint32(b[4:]) != 1 {
		return treeHead{}, fmt.Errorf("bad tree header %x", b)
	}
	return treeHead{be.Uint32(b[8:]), be.Uint32(b[12:]), be.Uint32(b[16:])}, nil
}

type treeNode struct {
	leaf      bool
	fwd, back uint32
	pairs     [][2]uint32
}

func (r *reader) node(i uint32) (treeNode, error) {
	b, err := r.block(i)
	if err != nil {
		return treeNode{}, err
	}
	if len(b) < 12 {
		return treeNode{}, fmt.Errorf("node %d too short", i)
	}
	n := treeNode{leaf: be.Uint16(b) == 1, fwd: be.Uint32(b[4:]), back: be.Uint32(b[8:])}
	count := int(be.Uint16(b[2:]))
	if len(b) != 12+8*count {
		return treeNode{}, fmt.Errorf("node %d: %d pairs in %d bytes", i, count, len(b))
	}
	for k := 0; k < count; k++ {
		n.pairs = append(n.pairs, [2]uint32{be.Uint32(b[12+8*k:]), be.Uint32(b[16+8*k:])})
	}
	return n, nil
}

func (r *reader) emptyTree(i uint32) (treeHead, error) {
	h, err := r.tree(i)
	if err != nil {
		return h, err
	}
	n, err := r.node(h.child)
	if err != nil {
		return h, err
	}
	if !n.leaf || len(n.pairs) != 0 || h.count != 0 {
		return h, errors.New("not an empty tree")
	}
	return h, nil
}

func (r *reader) paths(i uint32, out *BOM) error {
	h, err := r.tree(i)
	if err != nil {
		return err
	}
	if h.blockSize != 4096 {
		return fmt.Errorf("block size %d, want 4096", h.blockSize)
	}
	// Descend to the first leaf, checking each index node's entries name a
	// node whose last value they repeat, as lsbom and the installer rely on.
	cur, levels := h.child, 1
	var firstLeaves []uint32
	for {
		n, err := r.node(cur)
		if err != nil {
			return err
		}
		if n.leaf {
			break
		}
		levels++
		if len(n.pairs) == 0 {
			return errors.New("empty index node")
		}
		firstLeaves = firstLeaves[:0]
		for _, p := range n.pairs {
			child, err := r.node(p[0])
			if err != nil {
				return err
			}
			if len(child.pairs) == 0 || child.pairs[len(child.pairs)-1][1] != p[1] {
				return fmt.Errorf("index entry for node %d does not carry its last value", p[0])
			}
			firstLeaves = append(firstLeaves, p[0])
		}
		cur = n.pairs[0][0]
	}
	out.Levels = levels

	type named struct {
		parent uint32
		name   string
	}
	names := map[uint32]named{}
	var prev uint32
	var lastKey *named
	for leafID := cur; leafID != 0; {
		n, err := r.node(leafID)
		if err != nil {
			return err
		}
		if !n.leaf {
			return fmt.Errorf("node %d in the leaf chain is not a leaf", leafID)
		}
		if n.back != prev {
			return fmt.Errorf("leaf %d links back to %d, want %d", leafID, n.back, prev)
		}
		if levels > 1 && (out.Leaves >= len(firstLeaves) || firstLeaves[out.Leaves] != leafID) {
			return fmt.Errorf("leaf chain and index node disagree at leaf %d", leafID)
		}
		out.Leaves++
		for _, p := range n.pairs {
			key, err := r.block(p[0])
			if err != nil || len(key) != 8 {
				return fmt.Errorf("bad key block %d: %v", p[0], err)
			}
			val, err := r.block(p[1])
			if err != nil || len(val) < 6 || val[len(val)-1] != 0 {
				return fmt.Errorf("bad value block %d: %v", p[1], err)
			}
			e := Entry{ID: be.Uint32(key), Parent: be.Uint32(val)}
			name := string(val[4 : len(val)-1])
			if strings.IndexByte(name, 0) >= 0 || name == "" {
				return fmt.Errorf("bad name %q", name)
			}
			k := named{e.Parent, name}
			if lastKey != nil && (k.parent < lastKey.parent || k.parent == lastKey.parent && k.name <= lastKey.name) {
				return fmt.Errorf("(%d, %q) follows (%d, %q): leaves are not sorted", k.parent, k.name, lastKey.parent, lastKey.name)
			}
			lastKey = &k
			if _, dup := names[e.ID]; dup {
				return fmt.Errorf("id %d used twice", e.ID)
			}
			names[e.ID] = k
			if err := r.info(be.Uint32(key[4:]), &e); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			out.Entries = append(out.Entries, e)
		}
		prev, leafID = leafID, n.fwd
	}
	if levels > 1 && out.Leaves != len(firstLeaves) {
		return fmt.Errorf("index lists %d leaves, chain has %d", len(firstLeaves), out.Leaves)
	}
	if uint32(len(out.Entries)) != h.count {
		return fmt.Errorf("tree says %d paths, leaves hold %d", h.count, len(out.Entries))
	}
	for k := range out.Entries {
		e := &out.Entries[k]
		var parts []string
		seen := 0
		for id := e.ID; id != 0; id = names[id].parent {
			nm, ok := names[id]
			if !ok {
				return fmt.Errorf("id %d: parent chain reaches unknown id %d", e.ID, id)
			}
			if seen++; seen > len(names) {
				return fmt.Errorf("id %d: parent loop", e.ID)
			}
			parts = append([]string{nm.name}, parts...)
		}
		e.Path = strings.Join(parts, "/")
	}
	return nil
}

func (r *reader) info(i uint32, e *Entry) error {
	b, err := r.block(i)
	if err != nil {
		return err
	}
	if len(b) < 23 || b[1] != 1 || b[22] != 1 {
		return fmt.Errorf("bad metadata block %x", b)
	}
	e.Type, e.Flags, e.Mode = b[0], be.Uint16(b[2:]), be.Uint16(b[4:])
	e.UID, e.GID, e.MTime, e.Size = be.Uint32(b[6:]), be.Uint32(b[10:]), be.Uint32(b[14:]), be.Uint32(b[18:])
	rest := b[23:]
	wantType := map[uint16]byte{0o100000: 1, 0o040000: 2, 0o120000: 3}[e.Mode&0o170000]
	if wantType != e.Type {
		return fmt.Errorf("type %d does not match mode %o", e.Type, e.Mode)
	}
	switch e.Type {
	case 1:
		if len(rest) < 4 {
			return errors.New("file without checksum")
		}
		e.Checksum, rest = be.Uint32(rest), rest[4:]
	case 3:
		if len(rest) < 8 {
			return errors.New("symlink without checksum and target length")
		}
		e.Checksum = be.Uint32(rest)
		n := be.Uint32(rest[4:])
		if n == 0 || uint64(8)+uint64(n) > uint64(len(rest)) || rest[8+n-1] != 0 {
			return errors.New("bad symlink target")
		}
		e.LinkTarget, rest = string(rest[8:8+n-1]), rest[8+n:]
	}
	// Apple's mkbom ends the block with eight zero bytes.
	if !bytes.Equal(rest, make([]byte, 8)) {
		return fmt.Errorf("metadata block ends with %x, want eight zero bytes", rest)
	}
	return nil
}
