"""Where ServiceTitan lives: the token URL and API host per environment."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENVIRONMENTS", "Environment", "resolve"]


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    token_url: str
    api_base: str


ENVIRONMENTS: dict[str, Environment] = {
    "production": Environment(
        "production", "https://auth.servicetitan.io/connect/token", "https://api.servicetitan.io"
    ),
    "integration": Environment(
        "integration",
        "https://auth-integration.servicetitan.io/connect/token",
        "https://api-integration.servicetitan.io",
    ),
}


def resolve(name: str, base_url: str | None = None, auth_url: str | None = None) -> Environment:
    """The hosts to use. A ``base_url`` (the sandbox, a proxy) overrides the API host; its token
    URL defaults to ``{base_url}/connect/token``."""
    known = ENVIRONMENTS.get(name)
    if base_url:
        base = base_url.rstrip("/")
        return Environment(name, auth_url or f"{base}/connect/token", base)
    if known is None:
        raise ValueError(
            f"Unknown ServiceTitan environment “{name}”. Use “production” or “integration”, "
            "or give base_url= for the sandbox."
        )
    return Environment(name, auth_url or known.token_url, known.api_base)
