"""The mock's side of the fault catalogue: the attempt's run, number, deployment, model, API
and streaming flag in; the ``FaultChoice`` that hits it out (forced by the
``x-tokenstorm-fault`` header, else drawn from the active profile on the run's clock, which
starts with the run's first request here), plus the readiness ``flap`` and ``down`` rules
dictate per deployment (the routes that show and swap the active profile are in
``mock_models.http.admin``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from faults.decide import (
    FAULT_HEADER,
    AttemptContext,
    FaultChoice,
    choose,
    forced,
    parse_fault_header,
)
from faults.profile import FaultProfile
from faults.timeline import flapping_down, refusing

_RUN_CLOCKS = 1024
_EMPTY = FaultProfile(name="none")


class FaultBook:
    """The active fault profile of one mock server and the run clocks its windows use."""

    __slots__ = ("_run_started_s", "_started_s", "profile")

    def __init__(self, profile: FaultProfile | None, started_s: float) -> None:
        self.profile = profile if profile is not None else _EMPTY
        self._started_s = started_s
        self._run_started_s: OrderedDict[str, float] = OrderedDict()

    def run_clock_s(self, run_id: str | None, now_s: float) -> float:
        """Seconds since this run's first request (since start without a run id)."""
        if run_id is None:
            return now_s - self._started_s
        first = self._run_started_s.setdefault(run_id, now_s)
        self._run_started_s.move_to_end(run_id)
        while len(self._run_started_s) > _RUN_CLOCKS:
            self._run_started_s.popitem(last=False)
        return now_s - first

    def knows_run(self, run_id: str) -> bool:
        """Whether this run's clock has started here."""
        return run_id in self._run_started_s

    def start_run(self, run_id: str, started_s: float) -> None:
        """Run ``run_id``'s clock started at ``started_s`` (the run said so itself), whatever
        request of it arrived first."""
        self._run_started_s[run_id] = started_s
        self._run_started_s.move_to_end(run_id)
        while len(self._run_started_s) > _RUN_CLOCKS:
            self._run_started_s.popitem(last=False)

    def forget_runs(self) -> int:
        """Forget every run's clock (the next request of a run starts it anew); how many."""
        count = len(self._run_started_s)
        self._run_started_s.clear()
        return count

    @staticmethod
    def check_forced(headers: Mapping[str, str]) -> None:
        """``ValueError`` (for a 400) when the forcing header is malformed."""
        header = headers.get(FAULT_HEADER)
        if header:
            parse_fault_header(header)

    def forced(self, headers: Mapping[str, str], attempt: int | None) -> FaultChoice | None:
        """The header's fault for attempt number ``attempt``; ``ValueError`` when malformed."""
        return forced(headers.get(FAULT_HEADER), attempt)

    def drawn(
        self,
        run_id: str | None,
        attempt: int | None,
        deployment: str,
        model: str,
        api: str,
        stream: bool,
        now_s: float,
        u: float,
    ) -> FaultChoice | None:
        """The profile's fault for attempt number ``attempt`` of a request of run ``run_id``
        (from headers or the prompt tag), picked by ``u``, the attempt's own uniform draw
        (``mock_models.sim.attempt.fault_draw``: reproducible per seed, request id and
        attempt)."""
        if not self.profile.rule:
            return None
        context = AttemptContext(
            self.run_clock_s(run_id, now_s),
            deployment,
            model,
            api,
            stream,
            attempt,
        )
        return choose(self.profile, context, u)

    def clock_s(self, now_s: float) -> float:
        """The run clock of the run that started last (since start before any run), which
        faults on whole deployments (``down`` listeners, ``flap``) follow."""
        if not self._run_started_s:
            return now_s - self._started_s
        return now_s - max(self._run_started_s.values())

    def refusing(self, deployment: str, model: str, now_s: float) -> bool:
        """True while a ``down`` rule keeps the deployment's own listener closed."""
        return refusing(self.profile, deployment, model, self.clock_s(now_s))

    def readiness(
        self, now_s: float, deployment: str | None = None, model: str | None = None
    ) -> str:
        """``ready``, or why not: ``down`` (a down window holds the deployment) or
        ``flapping`` (the down half-period of a ``flap`` rule); ``deployment`` None asks
        about the server as a whole."""
        t_s = self.clock_s(now_s)
        if (
            deployment is not None
            and model is not None
            and refusing(self.profile, deployment, model, t_s)
        ):
            return "down"
        if flapping_down(self.profile, deployment, model, t_s):
            return "flapping"
        return "ready"
