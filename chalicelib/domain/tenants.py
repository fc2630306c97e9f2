"""Tenants, their API keys and their webhook signing secret."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.domain.errors import Invalid, Unauthorized
from chalicelib.domain.keys import new_api_key, new_webhook_secret, secret_matches, split_api_key
from chalicelib.models.common import RECIPIENT_ID_PATTERN
from chalicelib.models.stored import ApiKeyRecord, Tenant
from chalicelib.ports import Clock, TenantStore

_TENANT_NAME = re.compile(RECIPIENT_ID_PATTERN)


@dataclass(frozen=True)
class IssuedKey:
    tenant: str
    api_key: str
    webhook_secret: str


class TenantService:
    def __init__(self, *, tenants: TenantStore, clock: Clock) -> None:
        self._tenants = tenants
        self._clock = clock

    def issue_key(self, tenant_name: str) -> IssuedKey:
        """A new key for the tenant (created on first use). Every key of a tenant shares its
        webhook secret."""
        if not _TENANT_NAME.fullmatch(tenant_name):
            raise Invalid(["tenant"], "1-128 characters of A-Z a-z 0-9 . _ : @ -")
        now = self._clock.now()
        tenant = self._tenants.create_tenant(
            Tenant(name=tenant_name, webhook_secret=new_webhook_secret(), created_at=now)
        )
        key = new_api_key()
        self._tenants.put_api_key(
            ApiKeyRecord(
                prefix=key.prefix, tenant=tenant.name, key_hash=key.key_hash, created_at=now
            )
        )
        return IssuedKey(
            tenant=tenant.name, api_key=key.plaintext, webhook_secret=tenant.webhook_secret
        )

    def revoke(self, prefix: str) -> bool:
        return self._tenants.delete_api_key(prefix)

    def authenticate(self, api_key: str | None) -> str:
        """The tenant a key belongs to; Unauthorized for a missing, malformed or unknown key."""
        if not api_key:
            raise Unauthorized("missing API key")
        parts = split_api_key(api_key)
        if parts is None:
            raise Unauthorized("unknown API key")
        prefix, secret = parts
        record = self._tenants.get_api_key(prefix)
        if record is None or not secret_matches(secret, record.key_hash):
            raise Unauthorized("unknown API key")
        return record.tenant
