package main

// knownFlags lists osquery's flag names (daemon, shell and hidden ones) with
// their gflags types and defaults. Generous with real names, strict with
// everything else: an unknown name is an error, as in osqueryd.
var knownFlags = map[string]flagDef{}

func defFlags(kind flagKind, def string, names ...string) {
	for _, n := range names {
		knownFlags[n] = flagDef{kind: kind, def: def}
	}
}

func init() {
	// gflags built-ins and process control.
	defFlags(kindBool, "false", "help", "helpfull", "helpshort", "version",
		"S", "D", "daemonize", "install", "uninstall", "force", "utc", "verbose", "ephemeral",
		"config_check", "config_dump", "database_dump", "disable_database", "disable_watchdog",
		"enable_watchdog_debug", "disable_extensions", "extensions_default_index",
		"disable_logging", "disable_events", "disable_audit", "disable_distributed",
		"disable_enrollment", "disable_reenrollment", "disable_carver",
		"disable_hash_cache", "disable_decorators",
		"disable_endpointsecurity", "disable_endpointsecurity_fim",
		"config_enable_backup", "decorations_top_level", "enroll_always",
		"logger_rotate", "logger_stderr", "logger_event_type", "logger_snapshot_event_type",
		"logger_numerics", "logger_secondary_status_only", "logger_status_sync",
		"logger_tls_compress", "logger_syslog_prepend_cee",
		"distributed_loginfo", "tls_node_api", "tls_session_reuse", "tls_disable_status_log",
		"tls_dump", "carver_disable_function", "carver_compression",
		"schedule_lognames", "events_optimize", "enable_file_events", "enable_bpf_events",
		"enable_syslog", "enable_foreign", "enable_numeric_monitoring", "enable_keyboard_events",
		"enable_mouse_events", "enable_windows_events_publisher", "enable_windows_events_subscriber",
		"enable_ntfs_event_publisher", "enable_powershell_events_subscriber", "es_fim_enable_open_events", "audit_allow_config", "audit_allow_sockets",
		"audit_allow_process_events", "audit_allow_fim_events", "audit_allow_user_events",
		"audit_allow_selinux_events", "audit_allow_apparmor_events", "audit_allow_seccomp_events",
		"audit_allow_kill_process_events", "audit_allow_failed_socket_events",
		"audit_allow_null_accept_socket_events", "audit_allow_accept_socket_events",
		"audit_persist", "audit_debug", "audit_fim_debug", "audit_show_partial_fim_events",
		"audit_show_untracked_res_warnings", "audit_force_reconfigure", "audit_force_unconfigure",
		"aws_debug", "aws_enable_proxy", "aws_kinesis_random_partition_key",
		"keep_container_worker_open", "thrift_verbose", "allow_unsafe", "yara_malloc_trim",
		"json", "json_pretty", "csv", "line", "list", "header", "planner", "L",
	)
	// Output of the interactive shell shows headers by default.
	defFlags(kindBool, "true", "header")
	defFlags(kindString, "", "flagfile", "A", "pack", "connect", "separator", "nullvalue",
		"config_plugin", "config_path", "config_tls_endpoint", "logger_plugin", "logger_path",
		"logger_mode", "logger_tls_endpoint", "logger_kafka_brokers", "logger_kafka_topic",
		"logger_kafka_compression", "logger_kafka_acks",
		"distributed_plugin", "distributed_tls_read_endpoint", "distributed_tls_write_endpoint",
		"enroll_secret_env", "enroll_secret_path", "enroll_tls_endpoint", "tls_hostname",
		"tls_server_certs", "tls_client_cert", "tls_client_key", "proxy_hostname",
		"carver_start_endpoint", "carver_continue_endpoint",
		"pidfile", "database_path", "extensions_socket", "extensions_autoload",
		"extensions_timeout", "extensions_interval", "extensions_require",
		"host_identifier", "specified_identifier", "pack_delimiter", "disable_tables",
		"enable_tables", "syslog_pipe_path", "docker_socket", "augeas_lenses",
		"numeric_monitoring_plugins", "numeric_monitoring_filesystem_path",
		"aws_access_key_id", "aws_secret_access_key", "aws_region", "aws_profile_name",
		"aws_sts_arn_role", "aws_sts_region", "aws_sts_session_name", "aws_kinesis_stream",
		"aws_firehose_stream", "aws_firehose_endpoint", "aws_kinesis_endpoint", "aws_sts_endpoint",
		"aws_proxy_scheme", "aws_proxy_host", "aws_proxy_username", "aws_proxy_password",
		"windows_event_channels", "es_fim_mute_path_literal", "es_fim_mute_path_prefix",
	)
	knownFlags["separator"] = flagDef{kind: kindString, def: "|"}
	knownFlags["pack_delimiter"] = flagDef{kind: kindString, def: "_"}
	knownFlags["host_identifier"] = flagDef{kind: kindString, def: "hostname"}
	knownFlags["config_plugin"] = flagDef{kind: kindString, def: "filesystem"}
	knownFlags["logger_plugin"] = flagDef{kind: kindString, def: "filesystem"}
	knownFlags["distributed_plugin"] = flagDef{kind: kindString, def: "tls"}
	knownFlags["config_path"] = flagDef{kind: kindString, def: "/etc/osquery/osquery.conf"}
	knownFlags["logger_path"] = flagDef{kind: kindString, def: "/var/log/osquery/"}
	knownFlags["logger_mode"] = flagDef{kind: kindString, def: "0640"}
	knownFlags["database_path"] = flagDef{kind: kindString, def: "/var/osquery/osquery.db"}
	knownFlags["pidfile"] = flagDef{kind: kindString, def: "/var/osquery/osqueryd.pidfile"}
	knownFlags["extensions_socket"] = flagDef{kind: kindString, def: "/var/osquery/osquery.em"}
	knownFlags["extensions_timeout"] = flagDef{kind: kindString, def: "3"}
	knownFlags["extensions_interval"] = flagDef{kind: kindString, def: "3"}
	knownFlags["disable_distributed"] = flagDef{kind: kindBool, def: "true"}
	knownFlags["disable_carver"] = flagDef{kind: kindBool, def: "true"}
	knownFlags["disable_events"] = flagDef{kind: kindBool, def: "true"}
	knownFlags["disable_audit"] = flagDef{kind: kindBool, def: "true"}
	knownFlags["tls_node_api"] = flagDef{kind: kindBool, def: "false"}
	knownFlags["carver_compression"] = flagDef{kind: kindBool, def: "false"}

	defFlags(kindUint64, "0", "config_refresh", "config_accelerated_refresh",
		"logger_rotate_size", "logger_rotate_max_files", "logger_tls_max_linesize",
		"logger_tls_max_lines", "buffered_log_max",
		"distributed_tls_max_attempts", "distributed_denylist_duration",
		"config_tls_max_attempts", "tls_enroll_max_attempts", "tls_enroll_max_interval",
		"schedule_splay_percent", "schedule_default_interval", "schedule_timeout",
		"schedule_max_drift", "schedule_reload", "schedule_epoch", "pack_refresh_interval",
		"events_expiry", "events_max", "read_max", "watchdog_memory_limit",
		"watchdog_utilization_limit", "watchdog_delay", "watchdog_latency_limit",
		"watchdog_forced_shutdown_delay", "alarm_timeout", "aws_sts_timeout",
		"aws_kinesis_period", "aws_firehose_period", "aws_proxy_port",
		"numeric_monitoring_pre_aggregation_time", "thrift_string_size",
		"thrift_container_size", "profile", "profile_delay",
		"distributed_interval", "logger_tls_period", "table_delay", "hash_delay",
		"syslog_rate_limit", "yara_delay", "carver_expiry",
		"bpf_perf_event_array_exp", "bpf_buffer_storage_size", "audit_backlog_limit",
		"audit_backlog_wait_time",
	)
	knownFlags["distributed_interval"] = flagDef{kind: kindUint64, def: "60"}
	knownFlags["config_tls_max_attempts"] = flagDef{kind: kindUint64, def: "3"}
	knownFlags["distributed_tls_max_attempts"] = flagDef{kind: kindUint64, def: "3"}
	knownFlags["tls_enroll_max_attempts"] = flagDef{kind: kindUint64, def: "12"}
	knownFlags["tls_enroll_max_interval"] = flagDef{kind: kindUint64, def: "600"}
	knownFlags["logger_tls_period"] = flagDef{kind: kindUint64, def: "4"}
	knownFlags["logger_tls_max_lines"] = flagDef{kind: kindUint64, def: "1024"}
	knownFlags["logger_tls_max_linesize"] = flagDef{kind: kindUint64, def: "1048576"}
	knownFlags["schedule_splay_percent"] = flagDef{kind: kindUint64, def: "10"}
	knownFlags["schedule_default_interval"] = flagDef{kind: kindUint64, def: "3600"}
	knownFlags["distributed_denylist_duration"] = flagDef{kind: kindUint64, def: "86400"}
	knownFlags["watchdog_memory_limit"] = flagDef{kind: kindUint64, def: "0"}
	knownFlags["logger_rotate_size"] = flagDef{kind: kindUint64, def: "26214400"}
	knownFlags["logger_rotate_max_files"] = flagDef{kind: kindUint64, def: "25"}

	defFlags(kindUint32, "0", "carver_block_size", "tls_session_timeout", "hash_cache_max", "thrift_timeout")
	knownFlags["thrift_timeout"] = flagDef{kind: kindUint32, def: "300"}
	knownFlags["carver_block_size"] = flagDef{kind: kindUint32, def: "8192"}
	knownFlags["tls_session_timeout"] = flagDef{kind: kindUint32, def: "3600"}

	defFlags(kindInt32, "0", "watchdog_level", "logger_min_status", "logger_min_stderr",
		"logger_syslog_facility", "worker_threads")
}
