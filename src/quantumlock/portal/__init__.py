"""The portal: the service's own web UI at /portal (README, "The portal").

Server-rendered (Jinja2) pages over the domains' services, acting as the signed-in user with
their role's scopes, in live mode. Every asset is served by the service itself, and no page
runs inline script or style (the Content-Security-Policy forbids both).
"""
