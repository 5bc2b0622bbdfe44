"""An OpenID Connect issuer for tests: https discovery and JWKS on 127.0.0.1, and tokens it signs (RS256).

It plays a cluster's service account issuer (AKS publishes one like it, with a trailing slash), so that the
sandbox's Entra can fetch its keys the way Entra fetches a real issuer's.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_EXCHANGE = "api://AzureADTokenExchange"


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


class Issuer:
    """Serves `{issuer}.well-known/openid-configuration` and `{issuer}openid/v1/jwks` until `close()`."""

    def __init__(self, path: str = "/cluster-a/") -> None:
        self.ca = trustme.CA(organization_name="acssmtp test issuer")
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.published: list[dict[str, Any]] = [_jwk(self.key, self.kid)]
        self.jwks: Any = None  # set: served as the JWKS document instead of {"keys": published}
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                if self.path == path + ".well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.url,
                        "jwks_uri": issuer.url + "openid/v1/jwks",
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == path + "openid/v1/jwks":
                    body = issuer.jwks if issuer.jwks is not None else {"keys": issuer.published}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem.bytes().decode()

    def mint(
        self,
        subject: str,
        audience: str = TOKEN_EXCHANGE,
        lifetime: float = 3600,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        """A token as a kubelet's projected volume holds it; `claims` override (iss=..., nbf=...); `kid=""`: none."""
        now = int(time.time())
        payload = {"iss": self.url, "sub": subject, "aud": [audience], "iat": now, "nbf": now, "exp": now + lifetime}
        payload.update(claims)
        signing: Any = key or self.key
        if algorithm.startswith("HS"):
            signing = "a-shared-secret-of-32-bytes-long"
        headers = {} if kid == "" else {"kid": kid or self.kid}
        return jwt.encode(payload, signing, algorithm=algorithm, headers=headers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
