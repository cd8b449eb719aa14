"""``kgsearch rules ...``: merchandising rules from the command line (the operations of
``/merchandising/rules``, :class:`~app.rules_ops.RuleOps`).

Like ``kgsearch catalog``, it opens the data directory directly and acts as ``--user``
(or ``$KGSEARCH_USER``, else the login name); a running server applies what is
published here at its next sync (within a second). Exit codes: 0 done, 1 failure (no
index, a backend down), 2 refused (a malformed rule, an unknown name, a taken slot, a
stale version, a publish that would lower judged NDCG@10 beyond the margin without
``--force``); ``--json`` prints JSON.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from app.rules_ops import RuleOps

__all__ = ["rules_app"]

rules_app = typer.Typer(
    name="rules",
    help="Merchandising rules: pin, boost, bury, hide; preview, publish, undo.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class _Session:
    user: str = ""
    home: Path | None = None


@rules_app.callback()
def _rules(
    ctx: typer.Context,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", envvar="KGSEARCH_USER", help="Who makes the change; default: the login name."
        ),
    ] = None,
) -> None:
    _Session.user = (user or getpass.getuser()).strip()
    home = ctx.find_root().params.get("home")  # `kgsearch --home DIR rules ...`
    _Session.home = Path(home) if home is not None else None


def _fail(message: str, code: int, as_json: bool) -> NoReturn:
    if as_json:
        print(json.dumps({"error": {"message": message}}, indent=2))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _ops(as_json: bool) -> Iterator[RuleOps]:
    from pydantic import ValidationError

    from app.engine import Engine
    from app.rules_ops import RuleError, RuleOps
    from app.settings import Settings
    from ingest.versions import NoIndexError
    from kg.store import BackendUnavailable

    settings = Settings(home=_Session.home) if _Session.home is not None else Settings()
    engine = Engine(settings)
    try:
        yield RuleOps(engine)
    except RuleError as exc:
        _fail(f"{exc} [{exc.code}]", 2, as_json)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors()
        )
        _fail(f"invalid rule: {problems}", 2, as_json)
    except ValueError as exc:
        _fail(str(exc), 2, as_json)
    except (NoIndexError, BackendUnavailable) as exc:
        _fail(str(exc), 1, as_json)
    finally:
        engine.close()


def _print(body: Any, human: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(body, indent=2, default=str))
    else:
        typer.echo(human)


def _line(rule: dict[str, Any]) -> str:
    draft = rule["draft"]
    what = draft.get("when") or {"product": draft.get("product"), "position": draft.get("position")}
    factor = f" x{draft['factor']}" if draft.get("factor") else ""
    scope = draft.get("scope", {})
    where = f" [{scope.get('kind')}: {scope.get('value')}]" if scope.get("value") else ""
    head = f"#{rule['id']} v{rule['version']} {rule['state']:<9}"
    return f"{head} {draft['action']}{factor} {what}{where}"


def _spec(
    spec: str | None,
    action: str | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """A rule from ``--spec`` (JSON, or @file) or from the flags; not both."""
    flags = {k: v for k, v in options.items() if v not in (None, [], ())}
    if spec is not None:
        if action is not None or flags:
            raise ValueError("give the rule either as --spec or with flags, not both")
        text = Path(spec[1:]).read_text(encoding="utf-8") if spec.startswith("@") else spec
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("--spec must be a JSON object")
        return loaded
    if action is None:
        raise ValueError("give --action (pin, boost, bury, hide) or --spec")
    rule: dict[str, Any] = {"action": action}
    for key in ("name", "factor", "product", "position", "starts_at", "ends_at"):
        if key in flags:
            rule[key] = flags[key]
    when: dict[str, Any] = {k: flags[k] for k in ("brand", "category", "attribute") if k in flags}
    relations = []
    for item in flags.get("relation", []):
        rtype, sep, target = item.partition("=")
        if not sep:
            raise ValueError(
                f"--relation {item!r} is not TYPE=target (e.g. HAS_ATTRIBUTE=color=blue)"
            )
        relations.append({"type": rtype, "target": target})
    if relations:
        when["relations"] = relations
    if when:
        rule["when"] = when
    scopes = [(k, flags[k]) for k in ("exact", "contains", "entity", "in_category") if k in flags]
    if len(scopes) > 1:
        raise ValueError("give one scope: --exact, --contains, --entity or --in-category")
    if scopes:
        kind, value = scopes[0]
        rule["scope"] = {"kind": "category" if kind == "in_category" else kind, "value": value}
    return rule


@rules_app.command("list")
def list_rules(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """The rules, by id, with their state (draft, published, changed)."""
    from app.rules_ops import record_dict

    with _ops(as_json) as ops:
        page, total = ops.page(limit=limit, offset=offset)
        rules = [record_dict(r) for r in page]
    lines = [_line(r) for r in rules] or ["no rules"]
    _print({"items": rules, "total": total}, "\n".join(lines), as_json)


@rules_app.command()
def show(rule_id: int, as_json: JsonOpt = False) -> None:
    """One rule: its draft and published copies."""
    from app.rules_ops import record_dict

    with _ops(as_json) as ops:
        rule = record_dict(ops.get(rule_id))
    _print(rule, json.dumps(rule, indent=2), as_json)


@rules_app.command()
def create(
    spec: Annotated[
        str | None,
        typer.Option(help="The whole rule as JSON (or @file.json), as the API takes it."),
    ] = None,
    action: Annotated[str | None, typer.Option(help="pin, boost, bury or hide.")] = None,
    factor: Annotated[float | None, typer.Option(help="boost: above 1; bury: below 1.")] = None,
    brand: Annotated[str | None, typer.Option(help="Condition: this brand (name or id).")] = None,
    category: Annotated[
        str | None, typer.Option(help="Condition: in this category or below.")
    ] = None,
    attribute: Annotated[str | None, typer.Option(help="Condition: key=value.")] = None,
    relation: Annotated[
        list[str] | None, typer.Option(help="Condition: TYPE=target, repeatable.")
    ] = None,
    product: Annotated[str | None, typer.Option(help="pin: the product.")] = None,
    position: Annotated[int | None, typer.Option(help="pin: its 1-based slot.")] = None,
    exact: Annotated[str | None, typer.Option(help="Scope: this query exactly.")] = None,
    contains: Annotated[str | None, typer.Option(help="Scope: queries with these words.")] = None,
    entity: Annotated[
        str | None, typer.Option(help="Scope: queries linked to this entity.")
    ] = None,
    in_category: Annotated[
        str | None, typer.Option("--in-category", help="Scope: searches in this category.")
    ] = None,
    starts_at: Annotated[str | None, typer.Option(help="ISO time with zone.")] = None,
    ends_at: Annotated[str | None, typer.Option(help="ISO time with zone.")] = None,
    name: Annotated[str | None, typer.Option(help="A note for people.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a rule as a draft (search applies it once published)."""
    from app.rules_ops import record_dict
    from search.rules import RuleSpec

    options = {
        "factor": factor, "brand": brand, "category": category, "attribute": attribute,
        "relation": relation or [], "product": product, "position": position, "exact": exact,
        "contains": contains, "entity": entity, "in_category": in_category,
        "starts_at": starts_at, "ends_at": ends_at, "name": name,
    }  # fmt: skip
    with _ops(as_json) as ops:
        rule = RuleSpec.model_validate(_spec(spec, action, options))
        made = record_dict(ops.create(rule, actor=_Session.user))
    _print(made, f"created {_line(made)}", as_json)


@rules_app.command()
def preview(rule_id: int, as_json: JsonOpt = False) -> None:
    """Which judged and logged queries the draft would change, and judged NDCG@10."""
    with _ops(as_json) as ops:
        seen = ops.preview(rule_id).as_dict()
    lines = [
        f"rule #{rule_id}: {seen['judged_in_scope']} of {seen['judged_queries']} judged queries "
        f"in scope; NDCG@10 {seen['ndcg_at_10_before']} -> {seen['ndcg_at_10_after']} "
        f"({seen['ndcg_at_10_delta']:+.4f})",
        *(f"  judged: {c['query']!r} changes its top 10" for c in seen["changed_judged"]),
        *(f"  logged: {c['query']!r} ({c['count']}x) changes" for c in seen["changed_logged"]),
    ]
    _print(seen, "\n".join(lines), as_json)


@rules_app.command()
def publish(
    rule_id: int,
    force: Annotated[
        bool, typer.Option(help="Publish even if judged NDCG@10 falls beyond the margin.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish the draft: search applies it from its next sync, without a reindex."""
    from app.rules_ops import record_dict

    with _ops(as_json) as ops:
        record, seen = ops.publish(rule_id, actor=_Session.user, force=force)
        body = {**record_dict(record), "preview": seen.as_dict()}
    _print(body, f"published {_line(body)} (NDCG@10 {seen.ndcg_delta:+.4f})", as_json)


@rules_app.command()
def delete(
    rule_id: int,
    expected_version: Annotated[
        int | None, typer.Option(help="The version you read; omitted: no check.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a rule (undo brings it back)."""
    with _ops(as_json) as ops:
        ops.delete(rule_id, expected_version=expected_version, actor=_Session.user)
    _print({"id": rule_id, "deleted": True}, f"deleted rule #{rule_id}", as_json)


@rules_app.command()
def audit(
    rule_id: Annotated[int | None, typer.Option("--rule", help="Only this rule's changes.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The rules' change log, newest first (the seq is what undo takes)."""
    from app.rules_ops import change_dict

    with _ops(as_json) as ops:
        changes, _ = ops.audit(rule_id=rule_id, limit=limit)
        items = [change_dict(c) for c in changes]
    lines = [
        f"#{c['seq']} {c['at']} {c['actor']}: {c['op']} rule #{c['rule_id']}"
        + (f" ({c['note']})" if c["note"] else "")
        for c in items
    ]
    _print({"items": items}, "\n".join(lines) or "no changes", as_json)


@rules_app.command()
def undo(change_id: int, as_json: JsonOpt = False) -> None:
    """Revert one change of the audit log, as a new change."""
    from app.rules_ops import record_dict

    with _ops(as_json) as ops:
        restored = ops.undo(change_id, actor=_Session.user)
    rule = record_dict(restored) if restored else None
    human = f"undid #{change_id}" + (f": {_line(rule)}" if rule else " (rule deleted)")
    body = {"undone": change_id, "rule": rule}
    _print(body, human, as_json)
