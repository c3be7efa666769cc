"""Who may do what: the one place that decides access for every door.

- which agencies a caller speaks for (its configured agencies and the agencies the directory
  binds to its system id, compared in one normal form);
- whether intake is open (an operator's maintenance switch closes it for callers; the node's
  own status packets still pass);
- whether the sending agency may send at all (a suspended or dissolved agency may not).

Recipients are checked where they are resolved (``Directory.resolve`` refuses an unknown,
suspended or dissolved recipient); this module decides about the caller and the sender.
"""

from __future__ import annotations

from gateway.credentials.auth import Caller
from gateway.errors import (
    AgencyDissolved,
    AgencyInactive,
    CodeUnknown,
    MaintenanceMode,
    SenderNotAllowed,
)
from gateway.ops.health import Maintenance
from gateway.ports import Directory


def normal_code(code: str) -> str:
    """The one comparison form of an identifier code (trimmed, upper case)."""
    return code.strip().upper()


class Access:
    """Access decisions at intake and on reads, for every door alike."""

    def __init__(self, directory: Directory, maintenance: Maintenance | None = None) -> None:
        self.directory = directory
        self.maintenance = maintenance or Maintenance()

    def speaks_for(self, caller: Caller) -> frozenset[str]:
        """Every agency code (normal form) the caller may act for."""
        bound = self.directory.agencies_for_system(caller.system_id)
        return frozenset(normal_code(code) for code in caller.agencies | bound)

    def may_act_for(self, caller: Caller, agency_code: str) -> bool:
        """Whether the caller may send, read or acknowledge for ``agency_code``."""
        return normal_code(agency_code) in self.speaks_for(caller)

    def check_intake_open(self) -> None:
        """Raise ``MaintenanceMode`` while an operator has closed intake."""
        if self.maintenance.active:
            raise MaintenanceMode(self.maintenance.reason or "maintenance")

    def check_sender(self, caller: Caller, sender: str) -> None:
        """Raise unless ``caller`` speaks for ``sender`` and ``sender`` may send now.

        A sender the directory does not know is accepted when the caller is bound to it (the
        directory of a node need not list every agency its systems speak for); a sender the
        directory knows must be live: suspended → ``AgencyInactive``, dissolved →
        ``AgencyDissolved``.
        """
        if not self.may_act_for(caller, sender):
            raise SenderNotAllowed(sender, path="From/OrganId")
        try:
            self.directory.resolve(sender.strip())
        except CodeUnknown:
            return
        except (AgencyInactive, AgencyDissolved) as exc:
            exc.path = "From/OrganId"
            raise
