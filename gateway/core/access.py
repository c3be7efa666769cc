"""Who may do what: the one place that decides access for every door.

- which agencies a caller speaks for (its configured agencies and the agencies the directory
  binds to its system id, compared in one normal form);
- whether intake is open (an operator's maintenance switch closes it for callers; the node's
  own status packets still pass);
- whether the sending agency may send at all (a suspended or dissolved agency may not);
- whether every recipient accepts documents from this sender: an agency receives from every
  sender unless the directory gives it ``accepts_from`` prefixes, then only from senders whose
  code starts with one of them (stored by ``gateway.directory.accepts``).

Recipients are resolved by the directory (``Directory.resolve`` refuses an unknown,
suspended or dissolved recipient); this module decides whether each accepts the sender.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.credentials.auth import Caller
from gateway.errors import (
    AgencyDissolved,
    AgencyInactive,
    CodeUnknown,
    MaintenanceMode,
    RecipientNotAllowed,
    SenderNotAllowed,
)
from gateway.ops.health import Maintenance
from gateway.ports import Directory


def accepts(prefixes: tuple[str, ...], sender: str) -> bool:
    """Whether an agency with these ``accepts_from`` prefixes receives from ``sender`` (normal
    form): no prefix, every sender; otherwise a sender whose code starts with one of them."""
    return not prefixes or any(sender.startswith(p) for p in prefixes)


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

    def check_recipients(self, sender: str, recipients: Iterable[tuple[str, str]]) -> None:
        """Raise ``RecipientNotAllowed`` unless every recipient accepts from ``sender``.

        ``recipients``: (code as the packet names it, code of the live agency it resolved
        to); the live agency's ``accepts_from`` decides. A recipient the directory no longer
        lists (changed since it was resolved) is left to the resolution's own refusal.
        """
        who = normal_code(sender)
        for requested, resolved in recipients:
            agency = self.directory.get(resolved)
            if agency is not None and not accepts(agency.accepts_from, who):
                raise RecipientNotAllowed(f"{agency.code} ← {who}", path=requested)
