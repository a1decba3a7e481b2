"""SAML 2.0 single sign-on, service-provider side (OneLogin's python3-saml, extra `[saml]`):
per-account IdP connections (`/api/v2/sso/saml`), and the browser routes under
`/saml/{account_id}/` (metadata, login, acs, logout, slo)."""
