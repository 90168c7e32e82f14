"""ServerTls under Pulumi mocks, and the Ingress TLS of every rendered stack."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra.components.tls import ServerTls, ServerTlsArgs, certificate_spec
from tests.infra.mocks import RecordingMocks, Registered
from tests.infra.render import REDACTED, normalise
from tests.policy import renders

PEM = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"


class TlsMocks(RecordingMocks):
    """RecordingMocks plus the outputs pulumi-tls computes (PEMs, renewal flag)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        rid, outputs = super().new_resource(args)
        extra = {
            "tls:index/privateKey:PrivateKey": {"privateKeyPem": f"-----BEGIN PRIVATE KEY-----\n{args.name}\n"},
            "tls:index/certRequest:CertRequest": {"certRequestPem": "-----BEGIN CERTIFICATE REQUEST-----\n"},
            "tls:index/selfSignedCert:SelfSignedCert": {"certPem": PEM, "readyForRenewal": False},
            "tls:index/locallySignedCert:LocallySignedCert": {"certPem": PEM.replace("MOCK", "SERVER"),
                                                              "readyForRenewal": False},
        }.get(args.typ, {})
        return rid, {**outputs, **extra}


def run_component(args: ServerTlsArgs) -> tuple[TlsMocks, dict[str, Any]]:
    """Build one ServerTls under mocks; returns the registrations and its resolved outputs."""
    mocks = TlsMocks()
    pulumi.runtime.set_mocks(mocks, project="log-aggregator", stack="test", preview=False)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        component = ServerTls("api-tls", args)
        return pulumi.Output.all(component.secret_name, component.ca_cert_pem,
                                 component.ready_for_renewal).apply(
            lambda v: resolved.update(secret_name=v[0], ca_cert_pem=v[1], ready_for_renewal=v[2]))

    build()
    return mocks, resolved


def only(mocks: RecordingMocks, typ: str) -> Registered:
    """The single registration of `typ` (fails naming what exists)."""
    found = mocks.of_type(typ)
    assert len(found) == 1, (typ, sorted({r.typ for r in mocks.resources}))
    return found[0]


ARGS = ServerTlsArgs(namespace="logagg-prod", dns_names=("logs.example.com",), secret_name="api-tls")


def test_self_managed_ca_signs_a_server_certificate_that_renews_early() -> None:
    mocks, outputs = run_component(ARGS)
    ca = only(mocks, "tls:index/selfSignedCert:SelfSignedCert").inputs
    assert ca["isCaCertificate"] is True
    assert set(ca["allowedUses"]) >= {"cert_signing"}
    assert 0 < ca["earlyRenewalHours"] < ca["validityPeriodHours"]
    cert = only(mocks, "tls:index/locallySignedCert:LocallySignedCert").inputs
    assert cert["validityPeriodHours"] == 24 * 90 and cert["earlyRenewalHours"] == 24 * 30
    assert "server_auth" in cert["allowedUses"] and "cert_signing" not in cert["allowedUses"]
    csr = only(mocks, "tls:index/certRequest:CertRequest").inputs
    assert csr["dnsNames"] == ["logs.example.com"] and csr["subject"]["commonName"] == "logs.example.com"
    keys = mocks.of_type("tls:index/privateKey:PrivateKey")
    assert len(keys) == 2 and all(k.inputs["algorithm"] == "ECDSA" for k in keys)
    assert outputs == {"secret_name": "api-tls", "ca_cert_pem": PEM, "ready_for_renewal": False}


def test_certificate_lives_in_a_kubernetes_tls_secret_with_its_key_as_pulumi_secret() -> None:
    mocks, _ = run_component(ARGS)
    secret = normalise(only(mocks, "kubernetes:core/v1:Secret").inputs)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"] == {"name": "api-tls", "namespace": "logagg-prod", "labels": {
        "app.kubernetes.io/part-of": "log-aggregator", "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": "tls"}}
    assert set(secret["stringData"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert secret["stringData"]["tls.key"] == REDACTED
    assert not mocks.of_type("kubernetes:cert-manager.io/v1:Certificate")


def test_cert_manager_issuer_replaces_the_self_managed_ca() -> None:
    args = ServerTlsArgs(namespace="ns", dns_names=("logs.example.com", "api.example.com"),
                         secret_name="api-tls", issuer="letsencrypt", issuer_kind="ClusterIssuer")
    mocks, outputs = run_component(args)
    certificate = only(mocks, "kubernetes:cert-manager.io/v1:Certificate").inputs
    assert certificate["spec"] == certificate_spec(args)
    assert certificate["spec"]["issuerRef"] == {"name": "letsencrypt", "kind": "ClusterIssuer",
                                                "group": "cert-manager.io"}
    assert certificate["spec"]["secretName"] == "api-tls"
    assert certificate["spec"]["dnsNames"] == ["logs.example.com", "api.example.com"]
    assert certificate["spec"]["duration"] == "2160h" and certificate["spec"]["renewBefore"] == "720h"
    assert not [r for r in mocks.resources if r.typ.startswith("tls:")]
    assert not mocks.of_type("kubernetes:core/v1:Secret")
    assert outputs == {"secret_name": "api-tls", "ca_cert_pem": "", "ready_for_renewal": False}


@pytest.mark.parametrize("change,message", [
    ({"dns_names": ()}, "dns_names"),
    ({"early_renewal_hours": 0}, "early_renewal_hours"),
    ({"early_renewal_hours": 24 * 90}, "early_renewal_hours"),
    ({"ca_early_renewal_hours": 24 * 365 * 5}, "ca_early_renewal_hours"),
    ({"issuer": "x", "issuer_kind": "ClusterIsuer"}, "issuer_kind"),
])
def test_invalid_args_are_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"namespace": "ns", "dns_names": ("a.example.com",), "secret_name": "s"}
    with pytest.raises(ValueError, match=message):
        ServerTlsArgs(**{**base, **change})


@pytest.mark.parametrize("stack", renders.STACKS)
def test_every_ingress_serves_tls_from_a_certificate_we_manage(stack: str) -> None:
    rendered = renders.rendered(stack)
    ingresses = rendered.of_kind("Ingress")
    assert ingresses, f"[{stack}] renders no Ingress"
    tls_secrets = {s["metadata"]["name"] for s in rendered.of_kind("Secret") if s.get("type") == "kubernetes.io/tls"}
    issued = {c["spec"]["secretName"] for c in rendered.of_kind("Certificate")}
    for ingress in ingresses:
        hosts = {h for rule in ingress["spec"].get("rules", []) for h in [rule.get("host")] if h}
        tls = ingress["spec"].get("tls") or []
        assert tls, f"[{stack}] Ingress {ingress['metadata']['name']} serves plain HTTP"
        assert hosts <= {h for entry in tls for h in entry.get("hosts", [])}
        assert all(entry["secretName"] in tls_secrets | issued for entry in tls), (tls, tls_secrets, issued)
