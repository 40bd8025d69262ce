"""Who may use the helpdesk console and what each may do. Identity comes only from the company identity
provider's verified ID token: no form field names the agent, so nobody can act as someone else.

Roles: an agent views, finalises, resends and reminds; a lead may also re-drive parked notifications and end
other staff's sessions. A staff member whose token carries neither role is refused at sign-in.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from .completion import Refusal

_IDENTIFIER = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")    # shared.contracts' Identifier: what events can carry


class Role(StrEnum):
    AGENT = "agent"
    LEAD = "lead"


class Permission(StrEnum):
    VIEW = "view"
    FINALISE = "finalise"
    RESEND = "resend"
    REMIND = "remind"
    REDRIVE = "redrive"
    END_SESSIONS = "end_sessions"
    ERASE = "erase"                  # erase a merchant everywhere (docs/erasure.md): leads only


PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.VIEW, Permission.FINALISE, Permission.RESEND, Permission.REMIND}),
    Role.LEAD: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class RoleNames:
    """Which values of which ID-token claim mean agent or lead (the company IdP's group or role names)."""

    claim: str = "roles"
    agent: frozenset[str] = frozenset({"helpdesk-agent"})
    lead: frozenset[str] = frozenset({"helpdesk-lead"})


@dataclass(frozen=True, slots=True)
class StaffMember:
    issuer: str
    subject: str
    actor: str            # what events, the timeline and the audit record: the verified email, else `sub`
    name: str
    email: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A signed-in staff member, as the console sees them on each request."""

    session_id: UUID
    member: StaffMember
    started_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    csrf: str = ""        # derived from the browser's token at request time; never stored


def staff_member(claims: Mapping[str, object], names: RoleNames) -> StaffMember | Refusal:
    """The staff member an ID token describes; a refusal when it grants no console role or has no usable id."""
    role = _role(claims.get(names.claim), names)
    if role is None:
        return Refusal("no_role", "Your staff account has no helpdesk role. Ask a helpdesk lead to add you to "
                                  "the helpdesk agents group.")
    subject, email = str(claims.get("sub") or ""), str(claims.get("email") or "").lower()
    verified = claims.get("email_verified") in (True, "true")
    actor = email if email and verified and _IDENTIFIER.match(email) else subject
    if not subject or not _IDENTIFIER.match(actor):
        return Refusal("unusable_identity", "Your staff account has no identifier the console can record.")
    name = str(claims.get("name") or claims.get("preferred_username") or email or subject)[:200]
    return StaffMember(str(claims.get("iss") or ""), subject, actor, name, email, role)


def _role(granted: object, names: RoleNames) -> Role | None:
    values = {granted} if isinstance(granted, str) else set(granted) if isinstance(granted, Collection) else set()
    if values & names.lead:
        return Role.LEAD
    if values & names.agent:
        return Role.AGENT
    return None


@dataclass(frozen=True, slots=True)
class SessionRules:
    """A session ends `lifetime` after sign-in, or after `idle` without a page view, whichever comes first."""

    lifetime: timedelta = timedelta(hours=8)
    idle: timedelta = timedelta(minutes=60)
    sign_in_within: timedelta = timedelta(minutes=10)    # from "Sign in" to the provider's callback

    def expires_at(self, started_at: datetime) -> datetime:
        return started_at + self.lifetime

    def idle_since(self, now: datetime) -> datetime:
        """Sessions last seen before this are over."""
        return now - self.idle
