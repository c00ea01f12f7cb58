"""What the deadline rules read of a deadline, a person and a submission.

Small read-only protocols: the ORM rows (``Deadline``, ``DeadlineSubmitter``, ``Person``,
``Submission``) fit them, and so do the plain dataclasses the tests build, so the rules in
``handlers.deadlines`` stay pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class SubmitterLike(Protocol):
    """One submitter entry of a deadline; ``DeadlineSubmitter`` rows fit."""

    @property
    def kind(self) -> str:
        """``person`` or ``unit``."""
        ...

    @property
    def name(self) -> str:
        """The person's or the unit's name."""
        ...


class DeadlineLike(Protocol):
    """A deadline as these rules need it; ``Deadline`` rows fit."""

    @property
    def key(self) -> str:
        """The deadline's key in the config (``report``)."""
        ...

    @property
    def title(self) -> str:
        """What people call it (书面报告); every text names the deadline by it."""
        ...

    @property
    def period(self) -> str:
        """The period of a repeating deadline (第3周, 3月); ``""`` for a one-off."""
        ...

    @property
    def due_at(self) -> datetime:
        """The due time (aware): later submissions are 逾期交."""
        ...

    @property
    def format_note(self) -> str:
        """Format requirements added to reminders (格式要求); ``""`` for none."""
        ...

    @property
    def submitters(self) -> Sequence[SubmitterLike]:
        """Who owes it, in config order."""
        ...


class PersonLike(Protocol):
    """A person as these rules need it; ``Person`` rows and ``storage.people.Member`` fit."""

    @property
    def id(self) -> int:
        """The person's id, which ``SubmissionLike.person_id`` refers to."""
        ...

    @property
    def name(self) -> str:
        """The configured name, spaces removed (李强)."""
        ...

    @property
    def unit(self) -> str:
        """The person's unit (school), ``""`` for none."""
        ...

    @property
    def active(self) -> bool:
        """False once the person is gone from the config: not counted, not mentioned."""
        ...

    @property
    def wecom_userid(self) -> str | None:
        """The WeCom userid to @-mention; None when unknown."""
        ...

    @property
    def dingtalk_userid(self) -> str | None:
        """The DingTalk userid to @-mention; None when unknown."""
        ...

    @property
    def mobile(self) -> str:
        """The mobile number, to @-mention by where no userid is known; ``""`` if none."""
        ...

    def has_role(self, *roles: str) -> bool:
        """Whether the person has any of ``roles`` (``principal``, ``leader``, ...)."""
        ...


class SubmissionLike(Protocol):
    """One handed-in version as these rules need it; ``Submission`` rows fit."""

    @property
    def owner(self) -> str:
        """The entry it was recorded for: a person's or a unit's name."""
        ...

    @property
    def person_id(self) -> int:
        """Who handed it in."""
        ...

    @property
    def late(self) -> bool:
        """Handed in after the due time (逾期交)."""
        ...
