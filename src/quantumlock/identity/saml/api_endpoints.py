"""Placeholder: filled by the SAML work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
