"""What the platform team should do when Entra refuses the operator's own sign-in: each AADSTS code's advice,
for a client secret and for workload identity (a federated token)."""

from __future__ import annotations

__all__ = ["ERROR_PAGE", "FEDERATED", "SIGN_IN"]

# AADSTS codes of the operator's own sign-in, and what the platform team should do about each.
SIGN_IN = {
    "7000222": "its client secret has expired: create a new one and update AZURE_CLIENT_SECRET",
    "7000215": "its client secret is not valid: check AZURE_CLIENT_SECRET (the secret's value, not its id)",
    "700016": "its application was not found in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID",
    "7000229": "its application has no service principal in the tenant: create one (az ad sp create --id <app>)",
    "90002": "the tenant was not found: check AZURE_TENANT_ID",
}

ERROR_PAGE = "see https://login.microsoftonline.com/error?code="
# Workload identity: what Entra said of the token, and what to change. `{app}`: the operator's client id.
FEDERATED = {
    "70025": "application {app} has no federated identity credential Entra can see: one added moments ago may not "
    "have propagated yet (retried); otherwise add one for the operator's ServiceAccount (issuer: the cluster's "
    "OIDC issuer URL, subject: system:serviceaccount:<namespace>:<name>, audience: api://AzureADTokenExchange)",
    "70021": "no federated identity credential of application {app} matches the token's issuer, subject and audience",
    "700211": "no federated identity credential of application {app} names the token's issuer: it must be the "
    "cluster's OIDC issuer URL exactly, trailing slash included (AKS: az aks show --query "
    "oidcIssuerProfile.issuerUrl)",
    "700213": "no federated identity credential of application {app} names the token's subject (matched exactly, "
    "case included): add one for system:serviceaccount:<namespace>:<name> of the ServiceAccount the operator "
    "runs as, or run it as the one the credential names",
    "700212": "no federated identity credential of application {app} with the token's issuer and subject names "
    "its audience: the credential's audience and the projected token's (api://AzureADTokenExchange) must match",
    "700024": "the token has expired or is not yet valid: the kubelet re-writes a projected token before it "
    "expires; check that AZURE_FEDERATED_TOKEN_FILE is the projected volume's file, and the node's clock",
    "90061": "Entra could not fetch the issuer's OpenID discovery document or keys: the issuer URL must be "
    "reachable from the internet over https, with /.well-known/openid-configuration and its jwks_uri",
    "7000272": "the key that signed the token is not among the keys Entra knows for the issuer: after a service "
    "account signing key rotation, publish the new key in the issuer's JWKS; Entra caches an issuer's keys, so "
    "a refusal can last a while after the new key is published (retried)",
    "700027": "the token's signature does not verify with the issuer's published keys",
    "700222": "a token issued by Entra itself cannot be a federated assertion: point AZURE_FEDERATED_TOKEN_FILE "
    "at the projected service account token",
    "700016": "application {app} was not found in the tenant: check the ServiceAccount's "
    "azure.workload.identity/client-id and tenant-id annotations",
    "7000229": "application {app} has no service principal in the tenant: create one (az ad sp create --id {app})",
}
