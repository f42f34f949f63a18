from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from gateway_common.identity import CertificateKind
from gateway_common.settings import ServiceSettings
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

# Published OCES policy OIDs per kind (shared/reference/oces.md): production, then pre-production.
# A certificate's policy matches an entry equal to it or below it (real OIDs carry version arcs).
# OCES3 organisation certificates carry 1.2.208.169.1.1.1.3.7 and employees 1.2.208.169.1.1.1.2.x.
DEFAULT_POLICIES: dict[CertificateKind, list[str]] = {
    CertificateKind.PERSONAL: ["1.2.208.169.1.1.1.1", "1.3.6.1.4.1.31313.2.4.6.1"],
    CertificateKind.EMPLOYEE: ["1.2.208.169.1.1.1.2", "1.3.6.1.4.1.31313.2.4.6.2"],
    CertificateKind.COMPANY: ["1.2.208.169.1.1.1.3", "1.3.6.1.4.1.31313.2.4.6.3"],
    CertificateKind.FUNCTION: ["1.2.208.169.1.1.1.4", "1.3.6.1.4.1.31313.2.4.6.4"],
}


class IngressSettings(ServiceSettings):
    http_port: int = Field(default=9101, description="Port of /metrics and probes.")
    ftps_host: str = Field(default="0.0.0.0", description="Address the FTPS control port binds to.")
    ftps_port: int = Field(default=6371, description="FTPS control port (explicit FTPS, AUTH TLS).")
    passive_ports: str = Field(default="35000-35100", description="Passive data port range, 'low-high'.")
    masquerade_address: str | None = Field(
        default=None, description="Address advertised in PASV replies (the load balancer's public IP)."
    )
    tls_cert_file: Path = Field(default=Path("var/pki/server.pem"), description="Server certificate chain (PEM).")
    tls_key_file: Path = Field(default=Path("var/pki/server.key"), description="Server private key (PEM).")
    client_ca_file: Path = Field(
        default=Path("var/pki/client-ca.pem"), description="Trusted OCES CA certificates (PEM bundle)."
    )
    tls_ciphers: str = Field(
        default="ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:!MD5:!DSS:!RC4:!3DES",
        description="OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults).",
    )
    tls_session_timeout: int = Field(
        default=300,
        ge=1,
        description=(
            "Seconds a TLS session stays resumable by data connections. Each cached session holds the client's "
            "certificate chain (about 14 KiB with OCES certificates), so the cache holds the full handshakes of "
            "the last this many seconds, at most 20480 (OpenSSL's size): about 41 MiB at 10 handshakes/s "
            "with the default, never more than about 280 MiB."
        ),
    )
    accepted_policies: dict[CertificateKind, list[str]] = Field(
        default_factory=lambda: {kind: list(oids) for kind, oids in DEFAULT_POLICIES.items()},
        description="Certificate policy OIDs (or OID prefixes) accepted per certificate kind, as JSON.",
    )
    crl_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Comma-separated CRL files (PEM, PEM bundles or DER), re-read on change."
    )
    crl_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CRL URLs fetched from the start (else learned from certificates at login).",
    )
    crl_fetch: bool = Field(
        default=True, description="Also fetch CRLs from the HTTP distribution points of the CAs and clients."
    )
    crl_refresh_interval: float = Field(default=900.0, gt=0, description="Seconds between CRL refresh rounds.")
    crl_grace: float = Field(
        default=14400.0,
        ge=0,
        description="Seconds a CRL stays usable after its nextUpdate when no newer one can be had; then fail closed.",
    )
    crl_fetch_timeout: float = Field(default=10.0, gt=0, description="Seconds one CRL download may take.")
    crl_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="Largest CRL accepted from a URL.")
    revocation_check: bool = Field(
        default=True, description="Refuse certificates whose revocation status is unknown (off only in labs)."
    )
    ocsp_mode: Literal["off", "soft", "require"] = Field(
        default="off",
        description="OCSP after the CRL check: soft refuses on 'revoked' only; require needs a 'good' answer.",
    )
    ocsp_timeout: float = Field(default=5.0, gt=0, description="Seconds an OCSP query may take.")
    ocsp_cache_seconds: float = Field(
        default=300.0, ge=0, description="Longest an OCSP answer is reused (never past its nextUpdate)."
    )
    upload_size_grace: float = Field(
        default=300.0,
        ge=0,
        description="Seconds SIZE and MDTM still answer for an uploaded file after it has left the folder.",
    )
    tls_require_close_notify: bool = Field(
        default=True,
        description="An upload counts only when its data connection ends with a TLS close_notify, so a "
        "connection cut by the network cannot pass a truncated file off as complete (vsftpd's "
        "strict_ssl_read_eof). Off only for clients that close data connections without it.",
    )
    active_mode: bool = Field(
        default=False, description="Allow PORT/EPRT (active mode); only to the client's own address."
    )
    banner: str = Field(
        default="ftps-gateway ready. Use AUTH TLS and your OCES certificate.", description="FTP greeting (220)."
    )
    max_connections: int = Field(
        default=512,
        ge=1,
        description="FTPS connections in total: control and data connections and open passive data ports.",
    )
    max_connections_per_ip: int = Field(default=16, ge=1, description="FTPS connections per client IP.")
    max_logins_per_minute_per_ip: int = Field(default=30, ge=1, description="Login attempts per client IP per minute.")
    max_tls_handshakes_per_minute_per_ip: int = Field(
        default=120,
        ge=1,
        description="AUTH TLS handshakes per client IP per minute before login (a flood would evict the TLS "
        "session cache and cost CPU).",
    )
    max_passive_listeners_per_ip: int = Field(
        default=10, ge=1, description="Passive data ports one client IP may hold open at once."
    )
    login_timeout: int = Field(
        default=30,
        ge=1,
        description="Seconds a connection may take from connect to a completed login (bare TCP, a stalled TLS "
        "handshake, AUTH TLS then nothing).",
    )
    idle_timeout: int = Field(default=300, ge=1, description="Seconds a logged-in control connection may idle.")
    passive_timeout: int = Field(
        default=30, ge=1, description="Seconds a passive data port waits for the client to connect."
    )
    passive_reply_delay: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="Seconds the reply to EPSV/PASV waits after the command: curl 7.88 stalls for one second "
        "when that reply comes within ~0.1 ms (see gateway_ingress/passive_reply.py); 0 answers at once.",
    )
    data_handshake_timeout: int = Field(
        default=10, ge=1, description="Seconds a new data connection may take to complete its TLS handshake."
    )
    data_timeout: int = Field(default=120, ge=1, description="Seconds a data transfer may stall.")
    max_transaction_folders: int = Field(
        default=2000,
        ge=1,
        description="Transaction folders (MKD <txid>) a tenant may hold at once across its service folders; "
        "MKD beyond it is refused until uploads or RMD free some.",
    )
    max_list_entries: int = Field(
        default=10000,
        ge=1,
        description="Names one LIST, NLST or MLSD returns (the first, sorted by name); the reply says when "
        "a listing was cut.",
    )
    max_command_length: int = Field(
        default=1024, ge=64, le=8192, description="Longest accepted FTP command line in bytes."
    )
    out_quota_bytes: int | None = Field(
        default=100 * 1024 * 1024,
        gt=0,
        description="Bytes a tenant may keep in /out; above it uploads are refused until /out is cleaned. "
        "None: no quota.",
    )
    out_quota_max_age: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a measurement of a tenant's /out is used for the quota before it is taken again "
        "(in the background, never on the FTP IO loop).",
    )
    proxy_protocol: Literal["off", "v1", "v2", "auto"] = Field(
        default="off",
        description="PROXY protocol header expected from trusted load balancers on control and passive data "
        "connections; auto accepts v1 and v2.",
    )
    proxy_trusted_cidrs: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated load-balancer networks (CIDRs) whose connections must carry a PROXY header.",
    )
    publish_timeout: float = Field(
        default=5.0, gt=0, description="Seconds an upload waits for the broker before the outbox takes over."
    )
    outbox_max_backlog: int = Field(default=1000, ge=1, description="Readiness fails above this outbox backlog.")
    outbox_max_age: float = Field(
        default=300.0, gt=0, description="Readiness fails when the oldest outbox event is older (s)."
    )

    @field_validator("crl_files", "crl_urls", "proxy_trusted_cidrs", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("crl_urls")
    @classmethod
    def _http_only(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"CRL URL {url!r} is not http(s)")
        return value

    @field_validator("passive_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        low, _, high = value.partition("-")
        if not (low.isdigit() and high.isdigit() and 1024 <= int(low) <= int(high) <= 65535):
            raise ValueError("passive_ports must look like 35000-35100 (1024..65535)")
        return value

    @field_validator("proxy_trusted_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ip_network(cidr)
        return value

    def trusted_proxies(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(cidr) for cidr in self.proxy_trusted_cidrs]

    def passive_port_range(self) -> range:
        low, _, high = self.passive_ports.partition("-")
        return range(int(low), int(high) + 1)
