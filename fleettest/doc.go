// Package fleettest is an in-memory Fleet server for tests and for `make demo`.
//
// It speaks Fleet's wire protocol (the client side is fleet/client.go and
// fleet/config.go; the server's routes are in Fleet's own
// server/service/handler.go) on one listener bound to 127.0.0.1:
//
//   - Orbit API: POST /api/fleet/orbit/enroll, POST /api/fleet/orbit/config,
//     HEAD /api/fleet/orbit/ping, POST /api/fleet/orbit/device_token,
//     PUT /api/fleet/orbit/device_mapping, POST /api/fleet/orbit/scripts/request,
//     POST /api/fleet/orbit/scripts/result, POST /api/fleet/orbit/software_install/details,
//     POST /api/fleet/orbit/software_install/package?alt=media,
//     POST /api/fleet/orbit/software_install/result.
//   - osquery TLS API under /api/osquery/ and /api/v1/osquery/: enroll, config,
//     distributed/read, distributed/write, log, carve/begin, carve/block.
//   - Device API: GET /api/{v1|2022-04|latest}/fleet/device/{token}/desktop,
//     .../policies, .../transparency (307 redirect), HEAD .../ping,
//     POST .../debug/errors; HEAD /api/fleet/device/ping; and the browser pages
//     GET /device/{token} and /device/{token}/self-service (plain HTML).
//
// # Quick start
//
//	srv := fleettest.Start(t, fleettest.Config{EnrollSecrets: []string{"s3cret"}, TLS: true})
//	client := srv.Client()              // *http.Client trusting the server's CA
//	url := srv.URL()                    // https://127.0.0.1:PORT
//	ca := srv.CACertFile()              // PEM file: --fleet-certificate / --tls_server_certs
//	srv.SetStartupFlags(map[string]any{"distributed_interval": 7, "verbose": true})
//	srv.SetUpdateChannels("stable", "edge", "stable")
//	srv.AddScript("exec-1", "echo hi")         // every host, same id
//	id, _ := srv.QueueScript("HW-UUID", "echo hi") // one host, Fleet-style id
//	inst, _ := srv.AddSoftwareInstaller(fleettest.SoftwareInstaller{Filename: "x.deb", Package: b, InstallScript: "..."})
//	installID, _ := srv.QueueSoftwareInstall("HW-UUID", inst)
//	call, err := srv.WaitForCall(ctx, fleettest.CallFilter{Method: "POST", Path: "/api/fleet/orbit/scripts/result"})
//	srv.SetFault("/api/fleet/orbit/config", fleettest.Fault{Status: 401, For: 45 * time.Second})
//
// TLS: with Config.TLS the server generates a fresh ECDSA P-256 CA and a leaf
// certificate for 127.0.0.1, ::1 and localhost, and writes the CA as PEM to
// CACertFile(). HTTP/2 is disabled so that the connection-reset fault can
// hijack connections. Without TLS it serves plain HTTP (unit tests).
//
// # Strictness (what we chose, and how it compares to Fleet)
//
//   - Unknown path: 404, text body "404 page not found" (gorilla/mux default,
//     which Fleet uses without a custom NotFoundHandler).
//   - Known path, wrong method: 405 with an empty body (gorilla/mux default
//     for a method mismatch). HEAD is not implied by GET, nor GET by HEAD:
//     GET /api/fleet/orbit/ping is 405, as in Fleet.
//   - Malformed JSON or a value of the wrong type: 400
//     {"message":"Bad request","errors":[{"name":"base","reason":"json decoder error"}]}.
//     An empty body is decoded as {} (Fleet ignores io.EOF), so required
//     fields then fail on their own rules.
//   - Unknown request fields on the Orbit API: 400 with reason
//     `json: unknown field "x"`. Fleet itself ignores unknown fields; this is
//     deliberately stricter to catch misspelt field names in our client. Set
//     Config.AllowUnknownFields to behave like Fleet. The osquery TLS API and
//     POST .../debug/errors always accept unknown fields (osqueryd sends extra
//     fields such as platform_type).
//   - Orbit enroll: bad or missing enroll secret -> 401
//     {"message":"Authentication failed","errors":[{"name":"base","reason":"Authentication failed"}],"uuid":"..."}
//     (Fleet's AuthFailedError). Missing hardware_uuid -> 400 (stricter than
//     Fleet, which accepts it).
//   - Orbit authenticated calls with a missing or unknown orbit_node_key -> 401
//     {"message":"Authentication required","errors":[{"name":"base","reason":"Authentication required"}],"uuid":"..."}
//     (Fleet's AuthRequiredError).
//   - osquery calls with a missing or unknown node_key, and osquery enroll with
//     a bad secret -> 401 {"error":"...","node_invalid":true,"uuid":"..."}.
//   - Device API with an unregistered or expired token -> 401 "Authentication
//     required" body as above. Browser pages with such a token -> 401 HTML
//     (stand-in for Fleet's web UI, which is a single-page app).
//   - device_token: empty -> 400 "device auth token cannot be empty"; a token
//     that url.QueryEscape would change -> 400 "device auth token contains
//     invalid characters"; a token owned by another host -> 409 "Conflict"
//     (reason "auth token conflicts with another host"). A host has one token:
//     registering a new one invalidates the previous one. As in Fleet, a token
//     is valid for Config.DeviceTokenTTL (default 1 h) after it was first
//     registered; re-sending the same token does not renew it, only a new
//     token does (this is why the agent rotates hourly).
//   - .../transparency answers 307 with Location only (no body), like Fleet;
//     default target https://fleetdm.com/transparency.
//   - Request bodies over 10 MiB -> 413.
//   - Orbit API answers carry X-Fleet-Capabilities (default DefaultCapabilities,
//     Fleet's current list, see SetCapabilities) on success and on
//     service-level errors (404 not found, 403, 409, END_USER_AUTH_REQUIRED,
//     bad enroll secret), but not when node-key authentication or body
//     decoding failed: Fleet's go-kit ServerAfter runs whenever the endpoint
//     function ran. An empty list sends no header. Fleet's order is random
//     (a Go map); ours is fixed. The device ping endpoints send
//     SetDeviceCapabilities (default none).
//   - Activity queue (Fleet's unified queue): each host (by hardware UUID) has
//     one queue of scripts and software installs in queuing order. Only the
//     oldest unfinished item is "activated": the config lists it alone in
//     pending_script_execution_ids or pending_software_installer_ids. A
//     script result, or a terminal install result, finishes it and the next
//     one is listed. An install result whose status is pending_install (no
//     step reported) or that has retries_remaining > 0 keeps it active.
//   - Ownership: scripts/request and software_install/details for another
//     host's id -> 404 reason "not found" (Fleet's service notFoundError);
//     unknown ids -> 404 reason "HostScriptResult <id> was not found in the
//     datastore" / "SoftwareInstallerDetails <id> ...". A script result for
//     another host's id, an unknown id, a waiting item or an answered one is
//     a 200 {} that records nothing, as Fleet's UPDATE ... WHERE host_id. An
//     install result for an item not activated for this host -> 404
//     "HostSoftwareInstall <id> was not found in the datastore". The package
//     of an installer the host has no active install of -> 403
//     {"message":"Forbidden",...,"reason":"Host doesn't have access to this installer"}
//     (no uuid); no alt=media -> 400 "only alt=media is supported".
//   - Package answers stream the bytes with Content-Length, Content-Type
//     application/octet-stream and Content-Disposition attachment;filename="<name>"
//     (the name as given, unescaped, as Fleet). Install results answer 204 with
//     no body. Outputs are cut to their last 10000 runes, as Fleet stores them.
//   - scripts/request answers Fleet's HostScriptResult fields only: no
//     created_at/user_id/sync_request; timeout and exit_code are null until
//     the result.
//   - End-user authentication (RequireEndUserAuth): an enroll of a new host
//     with a secret that requires it -> 401
//     {"message":"END_USER_AUTH_REQUIRED","errors":[{"name":"base","reason":"END_USER_AUTH_REQUIRED"}]}
//     (no uuid), whatever the agent announces, unless AllowEndUserAuthBypass
//     and the agent does not announce end_user_auth, or CompleteEndUserAuth was
//     called for its hardware UUID. Hosts already enrolled are not blocked.
//   - Notifications (SetNotifications) are per host; run_disk_encryption_escrow
//     is sent once and then cleared, as Fleet's ClearPendingEscrow.
//   - debug_logging (SetDebugLogging) is per host and top-level in the config
//     answer, not a notification: true during a period, then omitted once
//     its duration has passed (Fleet ends the period on the server and
//     never sends false for it); omitted when not set.
//   - Responses are JSON indented with two spaces, Content-Type
//     "application/json; charset=utf-8", like Fleet.
//
// # Faults
//
// SetFault(pathPrefix, Fault) applies to every request whose path starts with
// pathPrefix (longest prefix wins; /_admin/ is never faulted). A Fault can:
// delay the response (Delay, honours client cancellation), answer with a fixed
// Status (with Fleet's error body for that status and API), send OversizeMiB
// MiB of valid JSON, send a Malformed (truncated) JSON body, or Reset the
// connection (hijack, SO_LINGER 0, close: the client sees a reset or EOF).
// Limit it with Times (apply N times, then heal) or For (heal after this long,
// measured with Config.Clock), and Method (only that method). ClearFaults
// removes all. A Delay alone lets the request proceed normally afterwards.
//
// # Record of calls
//
// Every non-admin request is recorded as a Call: time (Config.Clock), method,
// path, route template, status (0 if the connection was reset), request
// headers, the client's X-Fleet-Capabilities, the decoded JSON body
// (map[string]any, nil if not a JSON object), bytes in and out, and the fault
// applied. Calls() returns a copy; CallsMatching(CallFilter) filters;
// WaitForCall(ctx, CallFilter) blocks until a matching call is recorded (use it
// instead of sleeping). Records may hold secrets sent by the client (enroll
// secret, node keys) so tests can assert them; they are never logged.
//
// # Admin endpoint (JSON, same listener, never recorded or faulted)
//
//	GET    /_admin/calls[?method=M&path=P&prefix=P]  recorded calls
//	DELETE /_admin/calls                             forget recorded calls
//	GET    /_admin/hosts/orbit                       []OrbitHost
//	GET    /_admin/hosts/osquery                     []OsqueryHost
//	POST   /_admin/hosts/invalidate_node_keys        forget all orbit and osquery node keys (host "deleted")
//	GET    /_admin/device_tokens                     {"token": "hardware_uuid"}
//	PUT    /_admin/startup_flags                     body: object (null clears)
//	PUT    /_admin/update_channels                   body: {"orbit","osqueryd","desktop"} (null clears)
//	PUT    /_admin/extensions                        body: {"name":{"platform","channel","labels"}} (null clears)
//	PUT    /_admin/capabilities                      body: {"capabilities":"a,b","device_capabilities":"c"}
//	PUT    /_admin/script_execution_timeout          body: {"seconds":N}
//	POST   /_admin/scripts                           body: {"execution_id","contents"} (every host)
//	POST   /_admin/hosts/scripts                     body: {"hardware_uuid","contents"} -> {"execution_id"}
//	GET    /_admin/scripts/results                   []ScriptResult
//	POST   /_admin/software_installers               body: SoftwareInstaller ("package" base64) -> {"installer_id"}
//	POST   /_admin/hosts/software_installs           body: {"hardware_uuid","installer_id"} -> {"install_id"}
//	GET    /_admin/software_installs/results         []SoftwareInstallResult
//	GET    /_admin/hosts/queue?hardware_uuid=U       []QueueItem
//	PUT    /_admin/hosts/notifications               body: {"hardware_uuid","notifications":Notifications}
//	PUT    /_admin/hosts/debug_logging               body: {"hardware_uuid","debug_logging":bool|null,"duration":"1h"}
//	PUT    /_admin/end_user_auth                     body: {"enroll_secret":"" (all),"required":bool}
//	PUT    /_admin/end_user_auth/bypass              body: {"allow":bool}
//	POST   /_admin/end_user_auth/complete            body: {"hardware_uuid"}
//	PUT    /_admin/policies                          body: []Policy (device API)
//	PUT    /_admin/desktop                           body: DesktopInfo
//	GET    /_admin/device_mappings                   []DeviceMapping
//	GET    /_admin/fleetd_errors                     []json.RawMessage
//	POST   /_admin/distributed_queries               body: {"name","sql"}
//	GET    /_admin/distributed_results?name=N        []DistributedResult
//	PUT    /_admin/osquery_config                    body: object
//	GET    /_admin/osquery_logs?type=status|result   []json.RawMessage
//	GET    /_admin/carves                            []Carve
//	GET    /_admin/faults                            {"prefix": fault}
//	PUT    /_admin/faults                            body: {"path_prefix":P,"fault":{"method","status","delay":"2s",
//	                                                 "oversize_mib","malformed","reset","times","for":"45s"}}
//	DELETE /_admin/faults                            clear all faults
//
// Admin errors are {"error":"..."} with 400 or 404; success is 200 with JSON.
//
// # Go API
//
//	func New(cfg Config) *Server
//	func (s *Server) Start() error
//	func (s *Server) URL() string
//	func (s *Server) CACertFile() string
//	func (s *Server) CACertPEM() []byte
//	func (s *Server) Client() *http.Client
//	func (s *Server) Handler() http.Handler
//	func (s *Server) Close()
//	func (s *Server) SetCapabilities(csv string)
//	func (s *Server) SetDeviceCapabilities(csv string)
//	func (s *Server) SetStartupFlags(flags map[string]any) error // nil removes the field
//	func (s *Server) SetUpdateChannels(orbit, osqueryd, desktop string)
//	func (s *Server) ClearUpdateChannels()
//	func (s *Server) SetExtensions(ext map[string]Extension)
//	func (s *Server) SetScriptExecutionTimeout(seconds int)
//	func (s *Server) AddScript(execID, contents string)
//	func (s *Server) QueueScript(hardwareUUID, contents string) (execID string, err error)
//	func (s *Server) ScriptResults() []ScriptResult
//	func (s *Server) AddSoftwareInstaller(in SoftwareInstaller) (installerID uint, err error)
//	func (s *Server) QueueSoftwareInstall(hardwareUUID string, installerID uint) (installID string, err error)
//	func (s *Server) SoftwareInstallResults() []SoftwareInstallResult
//	func (s *Server) Queue(hardwareUUID string) []QueueItem
//	func (s *Server) SetNotifications(hardwareUUID string, n Notifications) error
//	func (s *Server) SetDebugLogging(hardwareUUID string, d DebugLogging) error
//	func (s *Server) RequireEndUserAuth(enrollSecret string, required bool)
//	func (s *Server) AllowEndUserAuthBypass(allow bool)
//	func (s *Server) CompleteEndUserAuth(hardwareUUID string)
//	func (s *Server) SetPolicies(p []Policy)
//	func (s *Server) SetDesktopInfo(d DesktopInfo)
//	func (s *Server) DeviceMappings() []DeviceMapping
//	func (s *Server) FleetdErrors() []json.RawMessage
//	func (s *Server) SetFault(pathPrefix string, f Fault)
//	func (s *Server) ClearFaults()
//	func (s *Server) Faults() map[string]Fault
//	func (s *Server) Calls() []Call
//	func (s *Server) CallsMatching(f CallFilter) []Call
//	func (s *Server) WaitForCall(ctx context.Context, f CallFilter) (Call, error)
//	func (s *Server) WaitForCalls(ctx context.Context, f CallFilter, n int) ([]Call, error)
//	func (s *Server) ResetCalls()
//	func (s *Server) OrbitHosts() []OrbitHost
//	func (s *Server) OsqueryHosts() []OsqueryHost
//	func (s *Server) DeviceTokens() map[string]string
//	func (s *Server) InvalidateNodeKeys()
//	func (s *Server) SetOsqueryConfig(cfg map[string]any) error
//	func (s *Server) AddDistributedQuery(name, sql string)
//	func (s *Server) DistributedResults(name string) []DistributedResult
//	func (s *Server) OsqueryLogs(logType string) []json.RawMessage
//	func (s *Server) Carves() []Carve
package fleettest
