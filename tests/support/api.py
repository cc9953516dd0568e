"""A thin helper over the HTTP API, so tests read like what a user does."""

from __future__ import annotations

import secrets
from typing import Any

import httpx2 as httpx


class Api:
    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def as_headers(self, headers: dict[str, str]) -> Api:
        return Api(self.client, headers)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response: httpx.Response = self.client.request(method, path, headers=headers, **kwargs)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None

    # Builders: each makes a fresh object with a unique name.
    def tenant(self, name: str | None = None) -> dict[str, Any]:
        body = {"name": name or f"tenant-{secrets.token_hex(4)}"}
        result: dict[str, Any] = self.ok("POST", "/api/v1/tenants", 201, json=body)
        return result

    def domain(
        self, tenant_id: int, name: str | None = None, owned: bool | None = True, **extra: Any
    ) -> dict[str, Any]:
        """As an operator: ``owned`` marks the name as owned at once, so that mail flows
        without DNS proof; pass None to create it as a tenant would get it (unproven)."""
        body = {
            "domain": name or f"d{secrets.token_hex(4)}.test",
            "customer_id": tenant_id,
            **extra,
        }
        if owned is not None:
            body["owned"] = owned
        result: dict[str, Any] = self.ok("POST", "/api/v1/mail/domains", 201, json=body)
        return result

    def mailbox(
        self,
        domain_id: int,
        local_part: str = "info",
        password: str = "correct-horse-1",
        **extra: Any,
    ) -> dict[str, Any]:
        body = {"local_part": local_part, "password": password, **extra}
        result: dict[str, Any] = self.ok(
            "POST", f"/api/v1/mail/domains/{domain_id}/accounts", 201, json=body
        )
        return result

    def alias(self, domain_id: int, source: str, destination: Any, **extra: Any) -> dict[str, Any]:
        body = {"source": source, "destination": destination, **extra}
        result: dict[str, Any] = self.ok(
            "POST", f"/api/v1/mail/domains/{domain_id}/aliases", 201, json=body
        )
        return result

    def tenant_admin(self, tenant_id: int, password: str = "admin-password-1") -> Api:
        """Creates an admin for the tenant, logs in, and returns the API as that admin."""
        email = f"admin-{secrets.token_hex(4)}@admins.test"
        self.ok(
            "POST",
            f"/api/v1/tenants/{tenant_id}/admins",
            201,
            json={"email": email, "password": password},
        )
        tokens = self.client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert tokens.status_code == 200, tokens.text
        return Api(self.client, {"Authorization": f"Bearer {tokens.json()['access_token']}"})
