"""Every Prometheus metric of the gateway, in one place.

Alerts, the Grafana dashboard and the runbook refer to these names; a test checks that each
name they use is defined here.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

BUILD_INFO = Info("gateway_build", "Version of the running gateway service.")

# --- FTPS ingress
FTPS_SESSIONS = Gauge("gateway_ftps_sessions_active", "Open FTPS control connections.")
FTPS_SESSIONS_TOTAL = Counter("gateway_ftps_sessions_total", "FTPS control connections accepted.")
FTPS_LOGINS = Counter(
    "gateway_ftps_logins_total",
    "Login attempts by result, refusal reason and certificate kind.",
    ["result", "reason", "kind"],
)
FTPS_COMMAND_REFUSALS = Counter(
    "gateway_ftps_refusals_total",
    "FTP commands refused by the gateway's policy, by command and reason.",
    ["command", "reason"],
)
FTPS_CONNECTIONS_REFUSED = Counter(
    "gateway_ftps_connections_refused_total",
    "FTPS control connections refused before login, by reason (connection limits, bad PROXY header).",
    ["reason"],
)
FTPS_DATA_CONNECTIONS_REFUSED = Counter(
    "gateway_ftps_data_connections_refused_total",
    "FTPS data connections refused, by reason (foreign address, no TLS session reuse, other certificate).",
    ["reason"],
)
FTPS_TIMEOUTS = Counter(
    "gateway_ftps_timeouts_total", "Connections closed for idling or stalling, by channel.", ["channel"]
)
UPLOADS = Counter("gateway_uploads_total", "Uploads by service and result.", ["service", "result"])
UPLOAD_BYTES = Counter("gateway_upload_bytes_total", "Bytes of completed uploads.", ["service"])
UPLOAD_FINALIZE_SECONDS = Histogram(
    "gateway_upload_finalize_seconds",
    "Time from the last byte received to the 226 reply (fsync, outbox, publish).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("gateway_outbox_backlog", "Upload events waiting in the outbox.")
OUTBOX_OLDEST_AGE = Gauge("gateway_outbox_oldest_age_seconds", "Age of the oldest upload event waiting in the outbox.")
SERVER_CERT_NOT_AFTER = Gauge(
    "gateway_server_certificate_expiry_timestamp_seconds", "Expiry of the FTPS server certificate in use."
)
CRL_AGE = Gauge("gateway_crl_age_seconds", "Seconds since the CRL in force was issued (thisUpdate).", ["crl"])
CLIENT_CERTS_EXPIRING = Gauge(
    "gateway_client_certificates_expiring",
    "Client certificates that logged in during the last 30 days and expire within within_days days "
    "(cumulative; +Inf counts them all). No identifiers: the login log lines say whose they are.",
    ["within_days"],
)
CRL_NEXT_UPDATE = Gauge(
    "gateway_crl_next_update_timestamp_seconds", "nextUpdate of the newest CRL held per issuing CA.", ["crl"]
)
CRL_REFRESHES = Counter(
    "gateway_crl_refreshes_total", "CRL loads by source (file or url) and result.", ["source", "result"]
)
OUT_DELETES = Counter("gateway_out_deletes_total", "Files clients deleted from /out, by certificate kind.", ["kind"])

# --- messaging (every service)
MESSAGES_CONSUMED = Counter(
    "gateway_messages_consumed_total", "Messages handled by queue and outcome.", ["queue", "outcome"]
)
MESSAGES_PARKED = Counter("gateway_messages_parked_total", "Messages moved to the parking queue.", ["queue", "reason"])
AMQP_CONNECTED = Gauge("gateway_amqp_connected", "1 while the service holds a broker connection.")

# --- router
EVENTS_ROUTED = Counter(
    "gateway_events_routed_total", "Upload events routed by service and result.", ["service", "result"]
)

# --- adapters
DELIVERIES = Counter("gateway_deliveries_total", "Delivery attempts by adapter and result.", ["adapter", "result"])
DELIVERY_SECONDS = Histogram("gateway_delivery_seconds", "Time an adapter spent delivering one file.", ["adapter"])

# --- status
STATUS_FILES_WRITTEN = Counter(
    "gateway_status_files_written_total", "Status XML files written by status code.", ["code"]
)
RETENTION_REMOVED = Counter(
    "gateway_retention_files_removed_total", "Files in /out removed because they outlived the retention."
)
# --- storage (measured by the status service's sweep; every replica reports the same volume)
STORAGE_BYTES = Gauge(
    "gateway_storage_bytes",
    "Bytes stored per area (spool, ledger, outbox, out, txids, outbound, responses, audit, recent) "
    "after the last sweep.",
    ["area"],
)
STORAGE_ENTRIES = Gauge("gateway_storage_entries", "Files stored per area after the last sweep.", ["area"])
STORAGE_OLDEST_AGE = Gauge(
    "gateway_storage_oldest_age_seconds", "Age of the oldest file kept per area at the last sweep.", ["area"]
)
STORAGE_REMOVED = Counter(
    "gateway_storage_removed_total",
    "Items the sweep removed per area (temp: leftovers of crashed writers), counted by the replica that removed them.",
    ["area"],
)
STORAGE_SWEEP_SECONDS = Gauge("gateway_storage_sweep_duration_seconds", "Duration of the last storage sweep.")
STORAGE_SWEEP_LAST_SUCCESS = Gauge(
    "gateway_storage_sweep_last_success_timestamp_seconds", "When the last storage sweep finished."
)
VOLUME_SIZE_BYTES = Gauge("gateway_storage_volume_size_bytes", "Size of the shared data volume.")
VOLUME_FREE_BYTES = Gauge("gateway_storage_volume_free_bytes", "Bytes available on the shared data volume.")
VOLUME_INODES = Gauge("gateway_storage_volume_inodes", "Inodes (files) of the shared data volume.")
VOLUME_FREE_INODES = Gauge("gateway_storage_volume_free_inodes", "Inodes available on the shared data volume.")
OUTBOUND_FILES = Counter(
    "gateway_outbound_files_total",
    "Outbound file pushes by backend and result (placed, repeated, or the HTTP refusal code).",
    ["backend", "result"],
)
UPLOAD_TO_STATUS_SECONDS = Histogram(
    "gateway_upload_to_status_seconds",
    "Time from upload received to its status file written, by status code.",
    ["code"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
