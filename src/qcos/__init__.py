"""QCOS / QuantumLock Python SDK.

from qcos import Client, RateLimitError
client = Client()                 # reads QCOS_API_KEY and QCOS_BASE_URL
print(client.me().scopes)
"""

from qcos._client import AsyncClient, Client
from qcos._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QCOSError,
    RateLimitError,
    ValidationError,
)
from qcos._models import ApiKey, CreatedKey, Me, RateLimitInfo
from qcos._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "ApiKey",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "CreatedKey",
    "Me",
    "NotFoundError",
    "PermissionDeniedError",
    "QCOSError",
    "RateLimitError",
    "RateLimitInfo",
    "ValidationError",
    "__version__",
]
