"""Targets and rules in the database, and the delivery log read back.

Targets keep their real URL here and nowhere else; `served()` is what any
response may show.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from services.api.errors import Conflict, Invalid, NotFound
from services.api.models import NotificationRow, NotificationRuleRow, NotificationTargetRow
from services.api.notifications.schema import (
    Delivery,
    Rule,
    Target,
    TargetOut,
    TargetState,
    TargetStatus,
)
from services.api.notifications.sender import BadUrl, check_url, mask_url

log = logging.getLogger(__name__)


class NotificationStore:
    # targets ------------------------------------------------------------------------------
    def targets(self) -> list[Target]:
        rows = NotificationTargetRow.select().order_by(NotificationTargetRow.id)
        return [t for t in (self._target(r) for r in rows) if t is not None]

    def find_target(self, target_id: str) -> Target | None:
        row = NotificationTargetRow.get_or_none(NotificationTargetRow.id == target_id)
        return None if row is None else self._target(row)

    def target(self, target_id: str) -> Target:
        found = self.find_target(target_id)
        if found is None:
            raise NotFound(f"no notification target {target_id!r}", {"field": "id"})
        return found

    def served(self, target: Target) -> TargetOut:
        row = NotificationTargetRow.get_or_none(NotificationTargetRow.id == target.id)
        status = TargetStatus()
        if row is not None:
            state = TargetState.unknown
            if row.failures:
                state = TargetState.failing
            elif row.last_success_at is not None:
                state = TargetState.ok
            status = TargetStatus(
                state=state,
                failures=row.failures,
                last_error=row.last_error,
                last_failure_at=row.last_failure_at,
                last_success_at=row.last_success_at,
            )
        data = target.model_dump()
        data["url"] = mask_url(target.url)
        return TargetOut(**data, status=status)

    def put_target(self, target: Target) -> tuple[Target, bool]:
        """Create or replace; a URL left out or sent back masked keeps the stored one."""
        current = self.find_target(target.id)
        url = target.url.strip()
        if current is not None and (not url or url == mask_url(current.url)):
            url = current.url
        if not url:
            raise Invalid("invalid target", [{"field": "url", "message": "an Apprise URL"}])
        try:
            url = check_url(url)
        except BadUrl as exc:
            raise Invalid("invalid target", [{"field": "url", "message": str(exc)}]) from exc
        saved = target.model_copy(update={"url": url})
        data = saved.model_dump_json()
        NotificationTargetRow.insert(id=saved.id, data=data).on_conflict(
            conflict_target=[NotificationTargetRow.id],
            update={NotificationTargetRow.data: data},
        ).execute()
        return saved, current is None

    def delete_target(self, target_id: str) -> None:
        self.target(target_id)
        users = [r.id for r in self.rules() if target_id in (*r.targets, *r.escalate_to)]
        if users:
            raise Conflict(
                f"notification target {target_id!r} is in use",
                {"field": "id", "used_by": {"rules": users}},
            )
        NotificationTargetRow.delete().where(NotificationTargetRow.id == target_id).execute()

    def record_attempt(self, target_id: str, ok: bool, error: str | None, now: float) -> None:
        if ok:
            NotificationTargetRow.update(failures=0, last_success_at=now).where(
                NotificationTargetRow.id == target_id
            ).execute()
        else:
            NotificationTargetRow.update(
                failures=NotificationTargetRow.failures + 1, last_error=error, last_failure_at=now
            ).where(NotificationTargetRow.id == target_id).execute()

    @staticmethod
    def _target(row: NotificationTargetRow) -> Target | None:
        try:
            return Target.model_validate_json(row.data)
        except ValidationError as exc:
            log.warning("stored notification target %r does not load: %s", row.id, exc)
            return None

    # rules --------------------------------------------------------------------------------
    def rules(self) -> list[Rule]:
        out = []
        for row in NotificationRuleRow.select().order_by(NotificationRuleRow.id):
            try:
                out.append(Rule.model_validate_json(row.data))
            except ValidationError as exc:
                log.warning("stored notification rule %r does not load: %s", row.id, exc)
        return out

    def rule(self, rule_id: str) -> Rule:
        row = NotificationRuleRow.get_or_none(NotificationRuleRow.id == rule_id)
        if row is None:
            raise NotFound(f"no notification rule {rule_id!r}", {"field": "id"})
        return Rule.model_validate_json(row.data)

    def find_rule(self, rule_id: str) -> Rule | None:
        try:
            return self.rule(rule_id)
        except (NotFound, ValidationError):
            return None

    def put_rule(self, rule: Rule) -> tuple[Rule, bool]:
        known = {t.id for t in self.targets()}
        errors = [
            {"field": f"{field}.{i}", "message": f"no notification target {t!r}"}
            for field in ("targets", "escalate_to")
            for i, t in enumerate(getattr(rule, field))
            if t not in known
        ]
        if errors:
            raise Invalid("invalid rule", errors)
        created = NotificationRuleRow.get_or_none(NotificationRuleRow.id == rule.id) is None
        data = rule.model_dump_json()
        NotificationRuleRow.insert(id=rule.id, data=data).on_conflict(
            conflict_target=[NotificationRuleRow.id], update={NotificationRuleRow.data: data}
        ).execute()
        return rule, created

    def delete_rule(self, rule_id: str) -> None:
        self.rule(rule_id)
        NotificationRuleRow.delete().where(NotificationRuleRow.id == rule_id).execute()

    # the delivery log ---------------------------------------------------------------------
    def deliveries(self, limit: int = 50, target: str | None = None) -> list[Delivery]:
        query = NotificationRow.select().order_by(NotificationRow.id.desc()).limit(limit)
        if target:
            query = query.where(NotificationRow.target == target)
        return [delivery(row) for row in query]


def delivery(row: NotificationRow) -> Delivery:
    return Delivery(
        id=row.id,
        target=row.target,
        rule=row.rule,
        alarm_id=row.alarm_id,
        event=row.event,
        severity=row.severity,
        title=row.title,
        body=row.body,
        created_at=row.created_at,
        due_at=row.due_at,
        attempts=row.attempts,
        state=row.state,
        last_error=row.last_error,
        sent_at=row.sent_at,
        merged_into=row.merged_into,
    )
