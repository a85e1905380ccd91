"""Per-team bearer tokens: which feature services and models each team may call.

Tokens live in the serving config (from the environment or a secret in production), one per team.
A request carries ``authorization: Bearer <token>`` metadata; the token names the team and the
team's grants decide. With no teams configured, authentication is off (local development).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from content_signals.config import TeamAccess
from content_signals.serving.catalog import CatalogCache, ServicePlan
from content_signals.serving.errors import PermissionDenied, Unauthenticated

ANY = "*"


class Authorizer:
    def __init__(self, teams: dict[str, TeamAccess]) -> None:
        self._teams = dict(teams)
        self._by_token = [(access.token.encode(), name) for name, access in teams.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._teams)

    def team(self, metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
        """The calling team, or None when authentication is off; raises Unauthenticated."""
        if not self.enabled:
            return None
        header = next((v for k, v in metadata if k.lower() == "authorization"), None)
        if header is None:
            raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        text = header.decode(errors="replace") if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        presented = token.strip().encode()
        found = None
        for known, name in self._by_token:  # compare with every token: timing reveals nothing
            if hmac.compare_digest(known, presented):
                found = name
        if found is None:
            raise Unauthenticated("unknown token")
        return found

    def may_read(self, team: str | None, service: str) -> bool:
        if team is None:
            return True
        grants = self._teams[team].feature_services
        return ANY in grants or service in grants

    def may_score(self, team: str | None, model: str) -> bool:
        if team is None:
            return True
        grants = self._teams[team].models
        return ANY in grants or model in grants

    def check_plan(self, team: str | None, plan: ServicePlan, services: Iterable[ServicePlan]) -> None:
        """A feature service needs a grant; explicit references need a granted service serving each."""
        if team is None:
            return
        if plan.name:
            if not self.may_read(team, plan.name):
                raise PermissionDenied(f"team {team!r} may not read feature service {plan.name!r}")
            return
        granted = {f.ref for s in services if self.may_read(team, s.name) for f in s.features}
        denied = [f.ref for f in plan.features if f.ref not in granted]
        if denied and ANY not in self._teams[team].feature_services:
            raise PermissionDenied(f"team {team!r} may not read {', '.join(denied)}")

    def plan_check(self, team: str | None, catalog: CatalogCache) -> Callable[[ServicePlan], None]:
        """:meth:`check_plan` against the catalog the plan came from: the ``authorize`` argument of
        :meth:`serving.data_plane.FeatureDataPlane.read`."""
        return lambda plan: self.check_plan(team, plan, catalog.current.services.values())

    def check_model(self, team: str | None, model: str) -> None:
        if not self.may_score(team, model):
            raise PermissionDenied(f"team {team!r} may not call model {model!r}")
