package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Files in the database directory that stand in for osquery's RocksDB keys
// in its "configurations" domain.
const (
	hostUUIDFile   = "standin_host_uuid"   // host_uuid_v3
	instanceIDFile = "standin_instance_id" // instance_uuid_v1
)

// placeholderUUIDs are the hardware UUIDs osquery treats as missing
// (kPlaceholderHardwareUUIDList in osquery/core/system.cpp), compared case
// insensitively. All-ones is not among them.
var placeholderUUIDs = []string{
	"00000000-0000-0000-0000-000000000000",
	"03000200-0400-0500-0006-000700080009",
	"03020100-0504-0706-0809-0a0b0c0d0e0f",
	"10000000-0000-8000-0040-000000000000",
}

func isPlaceholderUUID(u string) bool {
	for _, p := range placeholderUUIDs {
		if strings.EqualFold(u, p) {
			return true
		}
	}
	return false
}

// identity is what osquery keeps about the host in its database: the host
// UUID and the instance id. Like getHostUUID in osquery, the first lookup
// stores the value and every later one (in this run or the next with the
// same database) returns the stored value, even if the hardware changed.
// Without a database (osquery's ephemeral one) values last for this run.
type identity struct {
	dir      string        // database directory, "" for an ephemeral database
	hardware func() string // the hardware UUID as the platform reports it

	mu       sync.Mutex
	host     string
	instance string
}

// databaseDir is where the persistent database lives, or "" when osquery
// would use an ephemeral one. Only an explicit --database_path counts, so a
// stray run never writes to osquery's default location on the test machine.
func databaseDir(fs *flagSet) string {
	if !fs.IsSet("database_path") || fs.String("database_path") == "" || fs.Bool("disable_database") {
		return ""
	}
	return fs.String("database_path")
}

func newIdentity(dir string, sw switches, platform func() string) *identity {
	hw := platform
	switch {
	case sw.noHardwareUUID:
		hw = func() string { return "" }
	case sw.hardwareUUID != "":
		hw = func() string { return sw.hardwareUUID }
	}
	return &identity{dir: dir, hardware: hw}
}

// hostUUID is osquery's getHostUUID.
func (id *identity) hostUUID() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.host == "" {
		id.host = id.load(hostUUIDFile, id.generateHostUUID)
	}
	return id.host
}

// instanceID is osquery's getInstanceUUID: random, kept in the database.
func (id *identity) instanceID() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.instance == "" {
		id.instance = id.load(instanceIDFile, newUUID)
	}
	return id.instance
}

func (id *identity) load(name string, generate func() string) string {
	if id.dir != "" {
		if b, err := os.ReadFile(filepath.Join(id.dir, name)); err == nil {
			if v := strings.TrimSpace(string(b)); v != "" {
				return v
			}
		}
	}
	v := generate()
	if id.dir != "" {
		p := filepath.Join(id.dir, name)
		tmp := p + ".tmp"
		if os.WriteFile(tmp, []byte(v), 0o600) == nil {
			_ = os.Rename(tmp, p)
		}
	}
	return v
}

// generateHostUUID is osquery's generateHostUUID: the hardware UUID, or a
// random one when it is missing or a known placeholder.
func (id *identity) generateHostUUID() string {
	hw := strings.TrimSpace(strings.ReplaceAll(id.hardware(), "\n", ""))
	if i := strings.IndexByte(hw, 0); i >= 0 {
		hw = hw[:i]
	}
	if hw == "" || isPlaceholderUUID(hw) {
		return newUUID()
	}
	return hw
}

// newUUID is a random (version 4) UUID in boost's lower-case form, as
// osquery's generateNewUUID prints it.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
