"""QCOS / QuantumLock Python SDK.

from qcos import Client, RateLimitError
client = Client()                 # reads QCOS_API_KEY and QCOS_BASE_URL
print(client.me().scopes)
print(client.last_response.request_id, client.last_response.rate_limit)
for key in client.keys.iter(): ...  # every API key, page by page
lic = client.licenses.generate("customer@company.com", features=["premium"])
client.licenses.validate(lic.license_key, "customer@company.com").valid
enc = client.quantum.encrypt(b"secret")   # bytes in, bytes out: no base64 by hand
assert client.quantum.decrypt(enc) == b"secret"

`qcos.verify_license_file` and `qcos.LicenseVerification` (offline checks) live in
`qcos.licensing` and are loaded on first use: they need `cryptography`, the rest of the SDK
only `httpx`.
"""

from typing import TYPE_CHECKING, Any

from qcos._audit import AuditEvent, AuditPage, LicenseEvent, LicenseEventPage
from qcos._client import AsyncClient, Client
from qcos._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DecodingError,
    DecryptionError,
    NotFoundError,
    PermissionDeniedError,
    QCOSError,
    QuantumUnavailableError,
    QuotaExceededError,
    RateLimitError,
    ValidationError,
)
from qcos._identity_clients import (
    AsyncOAuthClients,
    AsyncServiceAccounts,
    OAuthClients,
    ServiceAccounts,
)
from qcos._identity_clients_models import (
    AuthMethod,
    ClientSecretInfo,
    CreatedOAuthClient,
    CreatedServiceAccount,
    GrantType,
    IdTokenAlg,
    OAuthClient,
    OAuthClientPage,
    ServiceAccount,
    ServiceAccountPage,
)
from qcos._keys import AsyncKeys, Keys
from qcos._licensing_models import (
    Customer,
    CustomerStats,
    GeneratedLicense,
    License,
    LicensePage,
    LicenseSummary,
    LicenseValidation,
)
from qcos._models import ApiKey, CreatedKey, KeyPage, Me, RateLimitInfo, TokenSubject
from qcos._oauth import OAuthError
from qcos._quantum import AsyncQuantum, Quantum
from qcos._quantum_models import (
    Encrypted,
    Entropy,
    KeyExchange,
    QuantumHealth,
    QuantumKey,
    QuantumKeyList,
    Signature,
    SourceHealth,
)
from qcos._resources import AsyncCustomers, AsyncLicenses, Customers, Licenses
from qcos._response import QuotaInfo, ResponseInfo
from qcos._sso import (
    AsyncSaml,
    AsyncSso,
    Saml,
    SamlAttributes,
    SamlCertificate,
    SamlConnection,
    SamlFields,
    SamlIdentityProvider,
    SamlServiceProvider,
    Sso,
)
from qcos._types import (
    Cipher,
    EntropyEncoding,
    EntropySource,
    KeyAlgorithm,
    KeyExchangeAlgorithm,
    KeyType,
    LicenseStatus,
    RsaBits,
    Scope,
    SignatureAlgorithm,
)
from qcos._users import AsyncUsers, CreatedUser, PasswordLink, User, UserPage, Users, UserSession
from qcos._version import __version__

if TYPE_CHECKING:
    from qcos.licensing import LicenseVerification as LicenseVerification
    from qcos.licensing import verify_license_file as verify_license_file

# Not in __all__: `from qcos import *` must not need cryptography.
_LAZY = frozenset({"LicenseVerification", "verify_license_file"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            from qcos import licensing
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] != "cryptography":
                raise
            raise ModuleNotFoundError(
                f"qcos.{name} needs the 'cryptography' package: pip install cryptography",
                name=exc.name,
            ) from exc
        return getattr(licensing, name)
    raise AttributeError(f"module 'qcos' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "ApiKey",
    "AsyncClient",
    "AsyncCustomers",
    "AsyncKeys",
    "AsyncLicenses",
    "AsyncOAuthClients",
    "AsyncQuantum",
    "AsyncSaml",
    "AsyncServiceAccounts",
    "AsyncSso",
    "AsyncUsers",
    "AuditEvent",
    "AuditPage",
    "AuthMethod",
    "AuthenticationError",
    "Cipher",
    "Client",
    "ClientSecretInfo",
    "ConfigurationError",
    "ConflictError",
    "CreatedKey",
    "CreatedOAuthClient",
    "CreatedServiceAccount",
    "CreatedUser",
    "Customer",
    "CustomerStats",
    "Customers",
    "DecodingError",
    "DecryptionError",
    "Encrypted",
    "Entropy",
    "EntropyEncoding",
    "EntropySource",
    "GeneratedLicense",
    "GrantType",
    "IdTokenAlg",
    "KeyAlgorithm",
    "KeyExchange",
    "KeyExchangeAlgorithm",
    "KeyPage",
    "KeyType",
    "Keys",
    "License",
    "LicenseEvent",
    "LicenseEventPage",
    "LicensePage",
    "LicenseStatus",
    "LicenseSummary",
    "LicenseValidation",
    "Licenses",
    "Me",
    "NotFoundError",
    "OAuthClient",
    "OAuthClientPage",
    "OAuthClients",
    "OAuthError",
    "PasswordLink",
    "PermissionDeniedError",
    "QCOSError",
    "Quantum",
    "QuantumHealth",
    "QuantumKey",
    "QuantumKeyList",
    "QuantumUnavailableError",
    "QuotaExceededError",
    "QuotaInfo",
    "RateLimitError",
    "RateLimitInfo",
    "ResponseInfo",
    "RsaBits",
    "Saml",
    "SamlAttributes",
    "SamlCertificate",
    "SamlConnection",
    "SamlFields",
    "SamlIdentityProvider",
    "SamlServiceProvider",
    "Scope",
    "ServiceAccount",
    "ServiceAccountPage",
    "ServiceAccounts",
    "Signature",
    "SignatureAlgorithm",
    "SourceHealth",
    "Sso",
    "TokenSubject",
    "User",
    "UserPage",
    "UserSession",
    "Users",
    "ValidationError",
    "__version__",
]

# Public classes show as `qcos.X` (tracebacks, reprs, pickles), not as the private module that
# defines them; pickling still finds them, as every one is an attribute of this package.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
