"""The demo staff directory: two helpdesk agents, one lead and one colleague with no helpdesk role.

Subjects are fixed so a restart keeps each person's identity (what the console records as the actor); the
README and the `make run` banner name these sign-ins.
"""

from __future__ import annotations

from dataclasses import dataclass

DEMO_PASSWORD = "Staff-Demo-2026!"

AGENT_ROLE = "helpdesk-agent"
LEAD_ROLE = "helpdesk-lead"

ALICE_EMAIL = "alice.agent@helpdesk.cloudpos.test"
BOB_EMAIL = "bob.agent@helpdesk.cloudpos.test"
LENA_EMAIL = "lena.lead@helpdesk.cloudpos.test"
SAM_EMAIL = "sam.sales@cloudpos.test"


@dataclass(frozen=True)
class StaffMember:
    sub: str
    name: str
    email: str
    roles: tuple[str, ...]


STAFF = (
    StaffMember("5d1f0a6e-2b7c-4c1e-9a3f-0e6b8d2c4a11", "Alice Agent", ALICE_EMAIL, (AGENT_ROLE,)),
    StaffMember("8e4b2c7d-1a3f-4d5e-b6c7-2f9a0b1c3d22", "Bob Agent", BOB_EMAIL, (AGENT_ROLE,)),
    StaffMember("2a7c9e1b-4d6f-4b8a-8c0d-5e1f3a5b7c33", "Lena Lead", LENA_EMAIL, (LEAD_ROLE,)),
    StaffMember("c3e5a7b9-6f8d-4a2c-9e1b-7d3f5a9c1e44", "Sam Sales", SAM_EMAIL, ("sales",)),
)
