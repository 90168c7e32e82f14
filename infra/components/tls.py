"""ServerTls: the certificate an Ingress (or a server) presents, in a `kubernetes.io/tls` Secret.

Two sources:
- a cert-manager Issuer/ClusterIssuer named in config → a cert-manager `Certificate` that writes the
  Secret and renews it `renew_before` expiry;
- otherwise a per-stack CA and a server certificate made with pulumi-tls. Both carry
  `early_renewal_hours`: once inside that window the provider reports `ready_for_renewal` and the
  next `pulumi up` replaces the certificate (a new CA re-signs the server certificate too), so a
  regularly run `pulumi up` rotates them before they expire.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from ..k8s import PART_OF

TLS_SECRET_TYPE = "kubernetes.io/tls"
SERVER_USES = ("digital_signature", "key_encipherment", "server_auth")
CA_USES = ("cert_signing", "crl_signing", "digital_signature")


@dataclass(frozen=True, kw_only=True)
class ServerTlsArgs:
    """Inputs of ServerTls."""

    namespace: pulumi.Input[str]
    """Namespace of the Secret (and the cert-manager Certificate)."""
    dns_names: tuple[str, ...]
    """Host names the certificate is valid for (the first is its common name)."""
    secret_name: str
    """Name of the `kubernetes.io/tls` Secret (keys tls.crt, tls.key, ca.crt)."""
    issuer: str | None = None
    """cert-manager issuer name; None = self-managed CA from pulumi-tls."""
    issuer_kind: str = "ClusterIssuer"
    """Issuer or ClusterIssuer (cert-manager only)."""
    validity_hours: int = 24 * 90
    """Lifetime of the server certificate."""
    early_renewal_hours: int = 24 * 30
    """Renew the server certificate this long before it expires."""
    ca_validity_hours: int = 24 * 365 * 5
    """Lifetime of the self-managed CA."""
    ca_early_renewal_hours: int = 24 * 180
    """Renew the CA this long before it expires (clients must then trust the new ca.crt)."""
    organization: str = PART_OF
    """Subject organization of the certificates."""

    def __post_init__(self) -> None:
        if not self.dns_names:
            raise ValueError("ServerTls: dns_names must name at least one host")
        if not 0 < self.early_renewal_hours < self.validity_hours:
            raise ValueError(f"ServerTls: early_renewal_hours ({self.early_renewal_hours}) must be "
                             f"> 0 and < validity_hours ({self.validity_hours})")
        if not 0 < self.ca_early_renewal_hours < self.ca_validity_hours:
            raise ValueError(f"ServerTls: ca_early_renewal_hours ({self.ca_early_renewal_hours}) must "
                             f"be > 0 and < ca_validity_hours ({self.ca_validity_hours})")
        if self.issuer_kind not in ("Issuer", "ClusterIssuer"):
            raise ValueError(f"ServerTls: issuer_kind {self.issuer_kind!r}; allowed: Issuer, "
                             "ClusterIssuer")


def certificate_spec(args: ServerTlsArgs) -> dict[str, object]:
    """The cert-manager Certificate spec (pure)."""
    return {
        "secretName": args.secret_name,
        "commonName": args.dns_names[0],
        "dnsNames": list(args.dns_names),
        "duration": f"{args.validity_hours}h",
        "renewBefore": f"{args.early_renewal_hours}h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "issuerRef": {"name": args.issuer, "kind": args.issuer_kind, "group": "cert-manager.io"},
    }


class ServerTls(pulumi.ComponentResource):
    """A TLS server certificate in a `kubernetes.io/tls` Secret, from cert-manager or a per-stack CA."""

    secret_name: pulumi.Output[str]
    """The Secret an Ingress `tls[].secretName` (or a server volume) references."""
    ca_cert_pem: pulumi.Output[str]
    """PEM of the self-managed CA clients should trust ('' with cert-manager)."""
    ready_for_renewal: pulumi.Output[bool]
    """True once the server certificate is inside its early-renewal window (next `up` rotates it)."""

    def __init__(self, name: str, args: ServerTlsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("logagg:index:ServerTls", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self._labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                        "app.kubernetes.io/component": "tls"}
        if args.issuer:
            self._create_certificate()
            self.ca_cert_pem = pulumi.Output.from_input("")
            self.ready_for_renewal = pulumi.Output.from_input(False)
        else:
            ca_key, ca_cert = self._create_ca()
            self._create_server_certificate(ca_key, ca_cert)
        self.secret_name = pulumi.Output.from_input(args.secret_name)
        self.register_outputs({"secret_name": self.secret_name, "ca_cert_pem": self.ca_cert_pem,
                               "ready_for_renewal": self.ready_for_renewal})

    def _create_certificate(self) -> None:
        """cert-manager issues and renews the Secret itself."""
        k8s.apiextensions.CustomResource(
            f"{self._name}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": self._args.secret_name, "namespace": self._args.namespace,
                      "labels": self._labels},
            spec=certificate_spec(self._args),
            opts=self._child,
        )

    def _create_ca(self) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
        """The per-stack CA: an ECDSA P-256 key and a self-signed CA certificate."""
        a = self._args
        key = tls.PrivateKey(f"{self._name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256",
                             opts=self._child)
        cert = tls.SelfSignedCert(
            f"{self._name}-ca",
            private_key_pem=key.private_key_pem,
            is_ca_certificate=True,
            subject={"common_name": f"{a.organization} {self._name} CA", "organization": a.organization},
            validity_period_hours=a.ca_validity_hours,
            early_renewal_hours=a.ca_early_renewal_hours,
            allowed_uses=list(CA_USES),
            opts=self._child,
        )
        self.ca_cert_pem = cert.cert_pem
        return key, cert

    def _create_server_certificate(self, ca_key: tls.PrivateKey, ca_cert: tls.SelfSignedCert) -> None:
        """Server key + certificate signed by the CA, stored with the CA in a kubernetes.io/tls Secret."""
        a = self._args
        key = tls.PrivateKey(f"{self._name}-key", algorithm="ECDSA", ecdsa_curve="P256",
                             opts=self._child)
        request = tls.CertRequest(
            f"{self._name}-csr",
            private_key_pem=key.private_key_pem,
            dns_names=list(a.dns_names),
            subject={"common_name": a.dns_names[0], "organization": a.organization},
            opts=self._child,
        )
        cert = tls.LocallySignedCert(
            f"{self._name}-cert",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca_cert.cert_pem,
            validity_period_hours=a.validity_hours,
            early_renewal_hours=a.early_renewal_hours,
            allowed_uses=list(SERVER_USES),
            opts=self._child,
        )
        self.ready_for_renewal = cert.ready_for_renewal
        chain = pulumi.Output.all(cert.cert_pem, ca_cert.cert_pem).apply(_chain)
        k8s.core.v1.Secret(
            f"{self._name}-secret",
            metadata={"name": a.secret_name, "namespace": a.namespace, "labels": self._labels},
            type=TLS_SECRET_TYPE,
            # private_key_pem is already a Pulumi secret (pulumi-tls marks it so).
            string_data={"tls.crt": chain, "tls.key": key.private_key_pem, "ca.crt": ca_cert.cert_pem},
            opts=self._child,
        )


def _chain(pems: list[str | None]) -> str:
    """Server certificate followed by its CA (what TLS clients expect in tls.crt)."""
    return "".join(pem if pem.endswith("\n") else pem + "\n" for pem in pems if pem)
