package fleettest

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

func TestOsqueryAPI(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"/api/osquery", "/api/v1/osquery"} {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			s := start(t, Config{TLS: true})
			orbitKey := enrollOrbit(t, s, "uuid-o")
			_ = orbitKey
			key := enrollOsquery(t, s, prefix, "uuid-o")

			hosts := s.OsqueryHosts()
			if len(hosts) != 1 || hosts[0].NodeKey != key || hosts[0].HostIdentifier != "uuid-o" || hosts[0].PlatformType != "9" {
				t.Fatalf("OsqueryHosts = %+v", hosts)
			}
			if oh := s.OrbitHosts(); oh[0].ID != hosts[0].ID {
				t.Fatalf("orbit host id %d and osquery host id %d differ for the same hardware UUID", oh[0].ID, hosts[0].ID)
			}

			if err := s.SetOsqueryConfig(map[string]any{"options": map[string]any{"distributed_interval": 3}}); err != nil {
				t.Fatal(err)
			}
			r := do(t, s, "POST", prefix+"/config", map[string]string{"node_key": key})
			if r.status != 200 || r.json(t)["options"].(map[string]any)["distributed_interval"] != float64(3) {
				t.Fatalf("config: %d %s", r.status, r.body)
			}

			// Distributed: a query goes out once per host, results come back.
			s.AddDistributedQuery("q1", "SELECT 1 AS one")
			r = do(t, s, "POST", prefix+"/distributed/read", map[string]string{"node_key": key})
			var read struct {
				Queries   map[string]string `json:"queries"`
				Discovery map[string]string `json:"discovery"`
			}
			if err := json.Unmarshal(r.body, &read); err != nil || r.status != 200 || read.Queries["q1"] != "SELECT 1 AS one" || read.Discovery == nil {
				t.Fatalf("distributed/read: %d %s", r.status, r.body)
			}
			r = do(t, s, "POST", prefix+"/distributed/read", map[string]string{"node_key": key})
			if q := r.json(t)["queries"].(map[string]any); len(q) != 0 {
				t.Fatalf("query sent twice: %s", r.body)
			}
			r = do(t, s, "POST", prefix+"/distributed/write", map[string]any{
				"node_key": key,
				"queries":  map[string]any{"q1": []map[string]any{{"one": "1"}, {"one": 2}}},
				"statuses": map[string]any{"q1": 0},
				"messages": map[string]string{},
				"stats":    map[string]any{"q1": map[string]int{"wall_time_ms": 1}},
			})
			if r.status != 200 || string(r.body) != "{}\n" {
				t.Fatalf("distributed/write: %d %q", r.status, r.body)
			}
			// A failing query with a string status and a message.
			do(t, s, "POST", prefix+"/distributed/write", map[string]any{
				"node_key": key, "queries": map[string]any{"q1": ""}, "statuses": map[string]any{"q1": "1"},
				"messages": map[string]string{"q1": "no such table"},
			})
			res := s.DistributedResults("q1")
			if len(res) != 2 || len(res[0].Rows) != 2 || res[0].Rows[0]["one"] != "1" || res[0].Rows[1]["one"] != "2" || res[0].Status != 0 {
				t.Fatalf("results = %+v", res)
			}
			if res[1].Status != 1 || res[1].Message != "no such table" || res[1].HostID != hosts[0].ID {
				t.Fatalf("failed result = %+v", res[1])
			}

			// Logs.
			r = do(t, s, "POST", prefix+"/log", map[string]any{"node_key": key, "log_type": "status", "data": []map[string]string{{"message": "m1"}, {"message": "m2"}}})
			if r.status != 200 {
				t.Fatalf("log: %d %s", r.status, r.body)
			}
			if logs := s.OsqueryLogs("status"); len(logs) != 2 {
				t.Fatalf("status logs = %d", len(logs))
			}
			if r := do(t, s, "POST", prefix+"/log", map[string]any{"node_key": key, "log_type": "bogus", "data": []any{}}); r.status != 500 {
				t.Fatalf("bogus log type: %d", r.status)
			}

			// Carves.
			r = do(t, s, "POST", prefix+"/carve/begin", map[string]any{"node_key": key, "block_count": 2, "block_size": 4, "carve_size": 6, "carve_id": "c1", "request_id": "r1"})
			begin := r.json(t)
			sid, _ := begin["session_id"].(string)
			if r.status != 200 || begin["success"] != true || sid == "" {
				t.Fatalf("carve/begin: %d %s", r.status, r.body)
			}
			for i, chunk := range []string{"abcd", "ef"} {
				r = do(t, s, "POST", prefix+"/carve/block", map[string]any{"block_id": i, "session_id": sid, "request_id": "r1", "data": base64.StdEncoding.EncodeToString([]byte(chunk))})
				if r.status != 200 || r.json(t)["success"] != true {
					t.Fatalf("carve/block %d: %d %s", i, r.status, r.body)
				}
			}
			cv := s.Carves()
			if len(cv) != 1 || !cv[0].Complete() || string(cv[0].Blocks[0])+string(cv[0].Blocks[1]) != "abcdef" {
				t.Fatalf("carves = %+v", cv)
			}
			if r := do(t, s, "POST", prefix+"/carve/block", map[string]any{"block_id": 0, "session_id": "nope", "data": ""}); r.status != 500 {
				t.Fatalf("unknown carve session: %d", r.status)
			}

			// Re-enroll kills the old key, with node_invalid.
			key2 := enrollOsquery(t, s, prefix, "uuid-o")
			r = do(t, s, "POST", prefix+"/config", map[string]string{"node_key": key})
			if r.status != 401 || r.json(t)["node_invalid"] != true {
				t.Fatalf("old node key: %d %s", r.status, r.body)
			}
			if r := do(t, s, "POST", prefix+"/config", map[string]string{"node_key": key2}); r.status != 200 {
				t.Fatalf("new node key: %d", r.status)
			}
		})
	}
}
