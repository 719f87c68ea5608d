"""Who gets what, when: the launch plan of one customer. Pure.

Every customer of the snapshot gets an *arm* (``holdout`` or a variant, hashed from
campaign and customer by :class:`~shopcrm.campaigns.rules.ArmAssigner`) and a *step*
(the wave they belong to, hashed under its own salt so waves and variants are
independent) with the step's scheduled time. Re-planning the same campaign gives the
same answer, so the lift report and a resumed dispatch agree with the launch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shopcrm.campaigns.rules import ArmAssigner, bucket
from shopcrm.campaigns.specs import Content, Experiment, Schedule


@dataclass(frozen=True)
class Step:
    index: int
    at: datetime
    share: float


def steps(schedule: Schedule, *, now: datetime) -> list[Step]:
    """The campaign's steps: one now or at a time, or one per wave (times in UTC; a
    time in the past means "as soon as possible")."""
    if schedule.kind == "waves":
        return [Step(i, w.at.astimezone(UTC), w.share) for i, w in enumerate(schedule.waves)]
    at = schedule.at if schedule.kind == "at" and schedule.at is not None else now
    return [Step(0, at.astimezone(UTC), 1.0)]


@dataclass(frozen=True)
class Planner:
    """Arm and step for each customer of one campaign."""

    campaign_id: int
    content: Content
    experiment: Experiment
    schedule: Schedule
    now: datetime

    def __post_init__(self) -> None:
        weights = tuple((v.name, v.weight) for v in self.content.variants)
        object.__setattr__(self, "_assigner", ArmAssigner(
            self.campaign_id, weights, self.experiment.holdout_share))
        object.__setattr__(self, "_steps", steps(self.schedule, now=self.now))

    @property
    def step_list(self) -> list[Step]:
        result: list[Step] = object.__getattribute__(self, "_steps")
        return result

    def arm(self, customer_id: int) -> str:
        assigner: ArmAssigner = object.__getattribute__(self, "_assigner")
        return assigner.arm(customer_id)

    def step(self, customer_id: int) -> Step:
        found = self.step_list
        if len(found) == 1:
            return found[0]
        name = bucket("wave", self.campaign_id, customer_id,
                      tuple((str(s.index), s.share) for s in found))
        return found[int(name)]
