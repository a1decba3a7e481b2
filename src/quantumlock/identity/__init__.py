"""Identity: users, roles and sessions; OAuth clients and service accounts; the OAuth 2.0 /
OpenID Connect provider. One domain, in sub-packages that each have the domain rooms."""
