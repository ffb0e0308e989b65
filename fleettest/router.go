package fleettest

import (
	"strings"
)

// route is one method + path template. Template segments "{token}" match any
// non-empty segment; "{version}" matches Fleet's API versions.
type route struct {
	method   string
	template string
	segs     []string
	h        func(*reqCtx)
}

var apiVersions = map[string]bool{"v1": true, "2022-04": true, "latest": true}

func newRoute(method, template string, h func(*reqCtx)) route {
	return route{method: method, template: template, segs: strings.Split(strings.Trim(template, "/"), "/"), h: h}
}

func (rt route) matchPath(path string) (map[string]string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != len(rt.segs) || !strings.HasPrefix(path, "/") || (strings.HasSuffix(path, "/") && path != "/") {
		return nil, false
	}
	var params map[string]string
	for i, want := range rt.segs {
		got := segs[i]
		switch want {
		case "{version}":
			if !apiVersions[got] {
				return nil, false
			}
		case "{token}":
			if got == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params["token"] = got
		default:
			if got != want {
				return nil, false
			}
		}
	}
	return params, true
}

// match finds the route for method and path. When the path matches but no
// route has that method it returns the first path match and methodOK=false.
func (s *Server) match(method, path string) (rt *route, params map[string]string, methodOK bool) {
	var pathMatch *route
	for i := range s.route {
		r := &s.route[i]
		p, ok := r.matchPath(path)
		if !ok {
			continue
		}
		if r.method == method {
			return r, p, true
		}
		if pathMatch == nil {
			pathMatch = r
		}
	}
	return pathMatch, nil, false
}

func (s *Server) routes() []route {
	var rs []route
	add := func(method, template string, h func(*reqCtx)) {
		rs = append(rs, newRoute(method, template, h))
	}
	// Orbit API.
	add("POST", "/api/fleet/orbit/enroll", s.orbitEnroll)
	add("POST", "/api/fleet/orbit/config", s.orbitConfig)
	add("HEAD", "/api/fleet/orbit/ping", s.orbitPing)
	add("POST", "/api/fleet/orbit/device_token", s.orbitDeviceToken)
	add("PUT", "/api/fleet/orbit/device_mapping", s.orbitDeviceMapping)
	add("POST", "/api/fleet/orbit/scripts/request", s.orbitScriptRequest)
	add("POST", "/api/fleet/orbit/scripts/result", s.orbitScriptResult)
	add("POST", "/api/fleet/orbit/software_install/details", s.orbitSoftwareInstallDetails)
	add("POST", "/api/fleet/orbit/software_install/package", s.orbitSoftwarePackage)
	add("POST", "/api/fleet/orbit/software_install/result", s.orbitSoftwareInstallResult)
	// osquery TLS API, both prefixes as Fleet.
	for _, p := range []string{"/api/osquery", "/api/v1/osquery"} {
		add("POST", p+"/enroll", s.osqueryEnroll)
		add("POST", p+"/config", s.osqueryConfig)
		add("POST", p+"/distributed/read", s.osqueryDistributedRead)
		add("POST", p+"/distributed/write", s.osqueryDistributedWrite)
		add("POST", p+"/log", s.osqueryLog)
		add("POST", p+"/carve/begin", s.osqueryCarveBegin)
		add("POST", p+"/carve/block", s.osqueryCarveBlock)
	}
	// Device API.
	add("HEAD", "/api/fleet/device/ping", s.deviceAnonPing)
	add("GET", "/api/{version}/fleet/device/{token}/desktop", s.deviceDesktop)
	add("GET", "/api/{version}/fleet/device/{token}/policies", s.devicePolicies)
	add("HEAD", "/api/{version}/fleet/device/{token}/ping", s.devicePing)
	add("POST", "/api/{version}/fleet/device/{token}/debug/errors", s.deviceDebugErrors)
	add("GET", "/api/{version}/fleet/device/{token}/transparency", s.deviceTransparency)
	// Browser pages (Fleet's frontend).
	add("GET", "/device/{token}", s.pageMyDevice)
	add("GET", "/device/{token}/self-service", s.pageSelfService)
	return rs
}
