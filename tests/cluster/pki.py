"""The control plane's certificates and keys, made with the openssl command into one folder.

One CA signs everything: the API server's serving certificate, the client certificate it
shows the node agent's kubelet endpoint, and that endpoint's serving certificate. The service
account key pair signs the pods' tokens. All of it lives only as long as the cluster's folder.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "30"
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Pki:
    """Paths of every file one control plane needs."""

    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path
    node_cert: Path
    node_key: Path
    service_account_key: Path
    service_account_pub: Path


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def _signed(folder: Path, name: str, subject: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    """A key and a certificate for `subject`, signed by the CA, with the given v3 extensions."""
    key, csr, cert, ext = (folder / f"{name}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text(extensions)
    _openssl("req", *EC, "-keyout", str(key), "-out", str(csr), "-subj", subject)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", str(cert), "-days", DAYS, "-extfile", str(ext))
    csr.unlink()
    ext.unlink()
    return cert, key


def make_pki(folder: Path) -> Pki:
    """Create every certificate and key in `folder` (which must exist)."""
    ca_cert, ca_key = folder / "ca.crt", folder / "ca.key"
    _openssl("req", "-x509", *EC, "-keyout", str(ca_key), "-out", str(ca_cert), "-days", DAYS,
             "-subj", "/CN=dtrain-test-cluster-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyCertSign")
    ca = (ca_cert, ca_key)
    server_ext = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=serverAuth\nsubjectAltName={san}\n")
    client_ext = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                  "extendedKeyUsage=clientAuth\n")
    apiserver = _signed(folder, "apiserver", "/CN=kube-apiserver", ca, server_ext.format(
        san="IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"))
    # The API server authenticates to kubelets with this one (group system:masters, as kubeadm does).
    kubelet_client = _signed(folder, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client",
                             ca, client_ext)
    node = _signed(folder, "node", "/CN=system:node:dtrain-node", ca, server_ext.format(san="IP:127.0.0.1,DNS:localhost"))
    sa_key, sa_pub = folder / "sa.key", folder / "sa.pub"
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(sa_key))
    _openssl("pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
    return Pki(ca_cert=ca_cert, ca_key=ca_key, apiserver_cert=apiserver[0], apiserver_key=apiserver[1],
               kubelet_client_cert=kubelet_client[0], kubelet_client_key=kubelet_client[1],
               node_cert=node[0], node_key=node[1], service_account_key=sa_key, service_account_pub=sa_pub)
