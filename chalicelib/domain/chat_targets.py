"""Which chat incoming-webhook URLs Tocsin will call.

Outside the local stage a Slack, Teams or Discord URL must be https on the platform's own
webhook hosts (and, like any webhook, resolve only to public addresses): a chat URL is never a
way to aim Tocsin at another host. The local stage takes any http(s) URL, so that tests and
demos can point a channel at a receiver on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.domain.webhook_targets import (
    RefusedTarget,
    Resolver,
    parse_webhook_url,
    resolve_addresses,
)
from chalicelib.models.common import Channel


@dataclass(frozen=True)
class Platform:
    name: str
    hosts: frozenset[str]
    # Any host under one of these domains (a tenant's own subdomain of the platform).
    domains: tuple[str, ...] = ()
    path_prefixes: tuple[str, ...] = ("/",)

    def serves(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(domain) for domain in self.domains)


PLATFORMS = {
    # https://api.slack.com/messaging/webhooks (GovSlack: hooks.slack-gov.com)
    Channel.SLACK: Platform(
        "Slack",
        frozenset({"hooks.slack.com", "hooks.slack-gov.com"}),
        path_prefixes=("/services/", "/workflows/", "/triggers/"),
    ),
    # Office 365 connectors (<tenant>.webhook.office.com, formerly outlook.office.com) and the
    # Workflows app that replaces them (Power Automate: *.logic.azure.com, *.powerplatform.com).
    Channel.TEAMS: Platform(
        "Microsoft Teams",
        frozenset({"outlook.office.com", "outlook.office365.com"}),
        domains=(".webhook.office.com", ".logic.azure.com", ".api.powerplatform.com"),
    ),
    # https://discord.com/developers/docs/resources/webhook#execute-webhook
    Channel.DISCORD: Platform(
        "Discord",
        frozenset({"discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"}),
        path_prefixes=("/api/webhooks/", "/api/v10/webhooks/"),
    ),
}

CHAT_CHANNELS = tuple(PLATFORMS)


def parse_chat_url(channel: Channel, url: str, *, allow_private: bool) -> tuple[str, int]:
    """(host, port) of an acceptable chat webhook URL; raises RefusedTarget otherwise."""
    host, port = parse_webhook_url(url, allow_private=allow_private)
    if allow_private:
        return host, port
    platform = PLATFORMS[channel]
    path = urlsplit(url).path
    if not platform.serves(host) or port != 443 or not path.startswith(platform.path_prefixes):
        raise RefusedTarget(f"must be a {platform.name} incoming-webhook URL (https, its own host)")
    return host, port


def check_chat_url(channel: Channel, url: str, *, allow_private: bool, resolve: Resolver) -> None:
    host, port = parse_chat_url(channel, url, allow_private=allow_private)
    if not allow_private:
        resolve_addresses(host, port, resolve, allow_private=False)
