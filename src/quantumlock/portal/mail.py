"""Sending the portal's one mail (a "forgot your password" link) through the operator's
SMTP server (QL_SMTP_*). Called off the request path, with a timeout on every step."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import structlog

from quantumlock.settings import Settings

log = structlog.get_logger("quantumlock.portal.mail")


def mail_configured(settings: Settings) -> bool:
    """Mail goes out only with an SMTP host AND a public base URL (QL_ISSUER): the link is
    never built from the request's Host header, which a stranger could forge to have a
    victim mailed a link to their own site."""
    return bool(settings.smtp_host) and bool(settings.issuer)


def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> bool:
    """Send one plain-text mail; False (logged without the address, the body or any
    secret) when the server cannot be reached or refuses."""
    if not settings.smtp_host:
        return False
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password is not None:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning(
            "portal.mail_failed",
            host=settings.smtp_host,
            port=settings.smtp_port,
            error=type(error).__name__,
        )
        return False
    return True
