package fleettest

import (
	"encoding/json"
	"sort"
	"time"
)

type dquery struct {
	name   string
	sql    string
	sentTo map[uint]bool
}

// state is everything the server knows; guarded by Server.mu.
type state struct {
	caps          string
	deviceCaps    string
	flags         json.RawMessage
	channels      *UpdateChannels
	extensions    json.RawMessage
	scriptTimeout int

	scripts         []*scriptTemplate
	nextSeq         uint64
	queues          map[string]*hostQueue           // hardware UUID -> queue
	activities      map[string]map[string]*activity // id -> hardware UUID -> item
	installers      map[uint]*SoftwareInstaller
	nextInstallerID uint
	installResults  []SoftwareInstallResult
	notifs          map[string]*Notifications // hardware UUID -> notifications
	debug           map[string]debugState     // hardware UUID -> debug_logging
	eua             euaState
	policies        []Policy
	desktop         DesktopInfo
	mappings        []DeviceMapping
	fleetdErrs      []json.RawMessage
	nextHostID      uint
	hostIDs         map[string]uint // identifier (hardware UUID / osquery identifier) -> host id
	orbitHosts      map[string]*OrbitHost
	orbitByKey      map[string]*OrbitHost
	osqHosts        map[string]*OsqueryHost
	osqByKey        map[string]*OsqueryHost
	tokens          map[string]*OrbitHost
	tokenTime       map[string]time.Time // when each token was registered
	osqConfig       json.RawMessage
	dqueries        []*dquery
	dresults        map[string][]DistributedResult
	logs            map[string][]json.RawMessage
	carves          map[string]*Carve
	carveOrder      []string
}

func newState() state {
	return state{
		caps:       DefaultCapabilities,
		hostIDs:    map[string]uint{},
		orbitHosts: map[string]*OrbitHost{},
		orbitByKey: map[string]*OrbitHost{},
		osqHosts:   map[string]*OsqueryHost{},
		osqByKey:   map[string]*OsqueryHost{},
		tokens:     map[string]*OrbitHost{},
		tokenTime:  map[string]time.Time{},
		dresults:   map[string][]DistributedResult{},
		logs:       map[string][]json.RawMessage{},
		carves:     map[string]*Carve{},
		queues:     map[string]*hostQueue{},
		activities: map[string]map[string]*activity{},
		installers: map[uint]*SoftwareInstaller{},
		notifs:     map[string]*Notifications{},
		debug:      map[string]debugState{},
		eua:        euaState{secrets: map[string]bool{}, completed: map[string]bool{}},
		osqConfig:  json.RawMessage(defaultOsqueryConfig),
		desktop:    DesktopInfo{TransparencyURL: "https://fleetdm.com/transparency"},
	}
}

// defaultOsqueryConfig is a small config in the shape Fleet serves.
const defaultOsqueryConfig = `{
  "options": {
    "disable_distributed": false,
    "distributed_interval": 10,
    "distributed_plugin": "tls",
    "distributed_tls_max_attempts": 3,
    "logger_tls_endpoint": "/api/osquery/log",
    "logger_tls_period": 10,
    "pack_delimiter": "/"
  },
  "decorators": {
    "load": [
      "SELECT uuid AS host_uuid FROM system_info;",
      "SELECT hostname AS hostname FROM system_info;"
    ]
  },
  "packs": {}
}`

// hostID returns the id for an identifier, linking orbit and osquery
// enrollments of the same machine as Fleet does.
func (st *state) hostID(ident string) uint {
	if id, ok := st.hostIDs[ident]; ok {
		return id
	}
	st.nextHostID++
	st.hostIDs[ident] = st.nextHostID
	return st.nextHostID
}

// SetCapabilities sets the X-Fleet-Capabilities value sent on Orbit API responses.
func (s *Server) SetCapabilities(csv string) {
	s.mu.Lock()
	s.st.caps = csv
	s.mu.Unlock()
}

// SetDeviceCapabilities sets the X-Fleet-Capabilities value sent by the
// device ping endpoints (default: none).
func (s *Server) SetDeviceCapabilities(csv string) {
	s.mu.Lock()
	s.st.deviceCaps = csv
	s.mu.Unlock()
}

func (s *Server) capabilities() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.caps
}

// SetStartupFlags sets command_line_startup_flags (nil removes the field).
// It returns an error only if a value cannot be encoded as JSON.
func (s *Server) SetStartupFlags(flags map[string]any) error {
	var raw json.RawMessage
	if flags != nil {
		b, err := json.Marshal(flags)
		if err != nil {
			return err
		}
		raw = b
	}
	s.mu.Lock()
	s.st.flags = raw
	s.mu.Unlock()
	return nil
}

// SetUpdateChannels sets update_channels in the Orbit config.
func (s *Server) SetUpdateChannels(orbit, osqueryd, desktop string) {
	s.mu.Lock()
	s.st.channels = &UpdateChannels{Orbit: orbit, Osqueryd: osqueryd, Desktop: desktop}
	s.mu.Unlock()
}

// ClearUpdateChannels removes update_channels from the Orbit config.
func (s *Server) ClearUpdateChannels() {
	s.mu.Lock()
	s.st.channels = nil
	s.mu.Unlock()
}

// SetExtensions sets the Orbit config extensions (nil or empty removes the field).
func (s *Server) SetExtensions(ext map[string]Extension) {
	var raw json.RawMessage
	if len(ext) > 0 {
		raw, _ = json.Marshal(ext) // a map of plain structs always encodes
	}
	s.mu.Lock()
	s.st.extensions = raw
	s.mu.Unlock()
}

// SetScriptExecutionTimeout sets script_execution_timeout in seconds (0 omits it).
func (s *Server) SetScriptExecutionTimeout(seconds int) {
	s.mu.Lock()
	s.st.scriptTimeout = seconds
	s.mu.Unlock()
}

// SetPolicies sets the policies the device API reports.
func (s *Server) SetPolicies(p []Policy) {
	s.mu.Lock()
	s.st.policies = append([]Policy(nil), p...)
	s.mu.Unlock()
}

// SetDesktopInfo sets what the /desktop endpoint reports.
func (s *Server) SetDesktopInfo(d DesktopInfo) {
	if d.TransparencyURL == "" {
		d.TransparencyURL = "https://fleetdm.com/transparency"
	}
	s.mu.Lock()
	s.st.desktop = d
	s.mu.Unlock()
}

// DeviceMappings returns the emails hosts sent to device_mapping, oldest first.
func (s *Server) DeviceMappings() []DeviceMapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DeviceMapping(nil), s.st.mappings...)
}

// FleetdErrors returns the bodies posted to .../debug/errors.
func (s *Server) FleetdErrors() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.st.fleetdErrs...)
}

// OrbitHosts returns the Orbit-enrolled hosts ordered by id.
func (s *Server) OrbitHosts() []OrbitHost {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OrbitHost, 0, len(s.st.orbitHosts))
	for _, h := range s.st.orbitHosts {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// OsqueryHosts returns the osquery-enrolled hosts ordered by id.
func (s *Server) OsqueryHosts() []OsqueryHost {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OsqueryHost, 0, len(s.st.osqHosts))
	for _, h := range s.st.osqHosts {
		c := *h
		c.HostDetails = append(json.RawMessage(nil), h.HostDetails...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// DeviceTokens maps each registered device token (expired ones included) to
// its host's hardware UUID.
func (s *Server) DeviceTokens() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.st.tokens))
	for t, h := range s.st.tokens {
		out[t] = h.HardwareUUID
	}
	return out
}

// tokenHost returns the host of a valid, unexpired device token; s.mu held.
func (s *Server) tokenHost(tok string) *OrbitHost {
	h := s.st.tokens[tok]
	if h == nil {
		return nil
	}
	ttl := s.cfg.DeviceTokenTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	if ttl > 0 && !s.now().Before(s.st.tokenTime[tok].Add(ttl)) {
		return nil
	}
	return h
}

// InvalidateNodeKeys forgets every orbit and osquery node key, as if the
// hosts were deleted in Fleet: their next calls get 401 and they must
// re-enroll. Device tokens stay valid.
func (s *Server) InvalidateNodeKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.orbitByKey = map[string]*OrbitHost{}
	s.st.osqByKey = map[string]*OsqueryHost{}
}

// SetOsqueryConfig sets the config returned to osqueryd.
func (s *Server) SetOsqueryConfig(cfg map[string]any) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.st.osqConfig = b
	s.mu.Unlock()
	return nil
}

// AddDistributedQuery queues a query sent once to every osquery host on its
// next distributed/read.
func (s *Server) AddDistributedQuery(name, sql string) {
	s.mu.Lock()
	s.st.dqueries = append(s.st.dqueries, &dquery{name: name, sql: sql, sentTo: map[uint]bool{}})
	s.mu.Unlock()
}

// DistributedResults returns the results received for a query name.
func (s *Server) DistributedResults(name string) []DistributedResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DistributedResult(nil), s.st.dresults[name]...)
}

// OsqueryLogs returns log entries of a type ("status" or "result"), oldest first.
func (s *Server) OsqueryLogs(logType string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.st.logs[logType]...)
}

// Carves returns the carve sessions in the order they began.
func (s *Server) Carves() []Carve {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Carve, 0, len(s.st.carveOrder))
	for _, id := range s.st.carveOrder {
		c := *s.st.carves[id]
		c.Blocks = make(map[int][]byte, len(s.st.carves[id].Blocks))
		for k, v := range s.st.carves[id].Blocks {
			c.Blocks[k] = append([]byte(nil), v...)
		}
		out = append(out, c)
	}
	return out
}
