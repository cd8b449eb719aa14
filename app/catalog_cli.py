"""``kgsearch catalog ...``: the catalog operations from the command line.

The CLI acts as the user named by ``--user`` (or ``$KGSEARCH_USER``, else the login
name): that name goes into the change log. It opens the data directory directly, so it
is admin-equivalent: whoever can run it there can edit the graph; API keys guard the
HTTP API only. Edits are searchable as soon as a server or ``kgsearch search`` next
syncs (both replay the change log). Exit codes: 0 done, 1 failure, 2 bad input
(invalid fields, a stale version, a missing entity); ``--json`` prints JSON, errors too.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from catalogue.kinds import NAMED_KINDS, EntityKindSpec

# The engine, the catalog operations and the API key store (FastAPI) are imported where
# a command uses them: `kgsearch --help` must not pay for them.
if TYPE_CHECKING:
    from app.auth import KeyStore
    from app.settings import Settings
    from catalogue.ops import CatalogOps, EditResult
    from catalogue.products import ProductOps
    from catalogue.taxonomy import NamedOps

__all__ = ["catalog_app"]

catalog_app = typer.Typer(
    name="catalog",
    help="Edit the product graph: validated, versioned, audited, reversible.",
    no_args_is_help=True,
)
keys_app = typer.Typer(name="keys", help="API keys (stored hashed).", no_args_is_help=True)
catalog_app.add_typer(keys_app, name="keys")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
VersionOpt = Annotated[
    int | None,
    typer.Option(
        "--expected-version",
        help="The version you read; refused if it moved. Omitted: the current one "
        "(no concurrency check).",
    ),
]
SourceVersionOpt = Annotated[
    int | None, typer.Option("--source-expected-version", help="The loser's version.")
]


class _Session:
    user: str = ""
    as_json: bool = False
    home: Path | None = None


def _fail(message: str, code: int, body: dict[str, Any] | None = None) -> NoReturn:
    if _Session.as_json:
        print(json.dumps(body or {"error": {"message": message}}, indent=2))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    from pydantic import ValidationError

    from catalogue.validation import CatalogError
    from kg.store import BackendUnavailable, GraphError

    try:
        yield
    except CatalogError as exc:
        body = {
            "error": {
                "code": exc.code,
                "message": str(exc),
                "field": exc.field,
                "issues": [i.as_dict() for i in exc.issues],
            }
        }
        details = "".join(f"\n  {i}" for i in exc.issues[1:21])
        _fail(f"{exc} [{exc.code}]{details}", 2, body)
    except (GraphError, FileNotFoundError, ValueError, ValidationError) as exc:
        _fail(str(exc), 2)
    except BackendUnavailable as exc:
        _fail(str(exc), 1)


def _settings() -> Settings:
    from app.settings import Settings

    return Settings(home=_Session.home) if _Session.home is not None else Settings()


def _ops() -> CatalogOps:
    from app.engine import Engine
    from catalogue.ops import CatalogOps

    settings = _settings()
    engine = Engine(settings)
    return CatalogOps(store=engine.graph, max_delete_share=settings.max_delete_share)


def _print(body: dict[str, Any], human: str) -> None:
    if _Session.as_json:
        print(json.dumps(body, indent=2, default=str))
    else:
        typer.echo(human)


def _edited(result: EditResult, what: str) -> None:
    version = "deleted" if result.version is None else f"version {result.version}"
    notes = "".join(f"\n  note: {n}" for n in result.notes)
    _print(
        result.as_dict(),
        f"{what} {result.entity_id}: {version} (revision {result.revision}){notes}",
    )


def _value(text: str) -> Any:
    """``799`` -> 799, ``null`` -> None, ``"x"``/``x`` -> "x"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _pairs(items: list[str], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} {item!r} is not key=value")
        out[key.strip()] = value
    return out


@catalog_app.callback()
def _catalog(
    ctx: typer.Context,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            envvar="KGSEARCH_USER",
            help="Who makes the edits (the change log's actor); default: the login name.",
        ),
    ] = None,
) -> None:
    _Session.user = (user or getpass.getuser()).strip()
    _Session.as_json = False
    home = ctx.find_root().params.get("home")  # `kgsearch --home DIR catalog ...`
    _Session.home = Path(home) if home is not None else None


def _version(of: ProductOps | NamedOps, eid: str, given: int | None) -> int:
    """The version given, else the current one (no concurrency check)."""
    return given if given is not None else of.get(eid).version


def _delete(
    part: Callable[[CatalogOps], ProductOps | NamedOps], eid: str, given: int | None
) -> None:
    with _errors():
        of = part(_ops())
        result = of.delete(eid, expected_version=_version(of, eid, given), actor=_Session.user)
    _edited(result, "deleted")


def _merge(
    part: Callable[[CatalogOps], ProductOps | NamedOps],
    winner: str,
    loser: str,
    given: int | None,
    loser_given: int | None,
) -> None:
    with _errors():
        of = part(_ops())
        result = of.merge(
            winner,
            loser,
            expected_version=_version(of, winner, given),
            loser_expected_version=_version(of, loser, loser_given),
            actor=_Session.user,
        )
    _edited(result, "merged into")


@catalog_app.command()
def show(product: str, as_json: JsonOpt = False) -> None:
    """A product with its version, brand, category, attributes and relations."""
    _Session.as_json = as_json
    with _errors():
        view = _ops().products.get(product)
    lines = [f"{view.entity_id} (version {view.version}): {view.fields.get('name')}"]
    for key in ("product_class", "price", "average_rating", "rating_count"):
        lines.append(f"  {key}: {view.fields.get(key)}")
    lines.append(f"  brand: {view.brand[1] if view.brand else None}")
    lines.append(f"  category: {' / '.join(view.category[1]) if view.category else None}")
    for key, (value, _) in view.attributes.items():
        lines.append(f"  {key}: {value}")
    _print(view.as_dict(), "\n".join(lines))


@catalog_app.command("list")
def list_(
    q: Annotated[str, typer.Option("--q", help="Text in the id or name.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Products whose id or name contains --q."""
    _Session.as_json = as_json
    with _errors():
        total, items = _ops().products.browse(q=q, limit=limit)
    rows = "\n".join(f"{i.product_id}\tv{i.version}\t{i.name}" for i in items)
    _print({"total": total, "items": [i.as_dict() for i in items]}, f"{total} products\n{rows}")


def _fields(
    set_: list[str], attr: list[str], brand: str | None, category: str | None
) -> dict[str, Any]:
    fields = {k: _value(v) for k, v in _pairs(set_, "--set").items()}
    attrs = {k: (v if v else None) for k, v in _pairs(attr, "--attr").items()}
    if attrs:
        fields["attributes"] = attrs
    if brand is not None:
        fields["brand"] = brand or None
    if category is not None:
        fields["category"] = category
    return fields


SetOpt = Annotated[list[str], typer.Option("--set", help="field=value (JSON or text), repeatable.")]
AttrOpt = Annotated[
    list[str], typer.Option("--attr", help="key=value; key= removes it. Repeatable.")
]
BrandOpt = Annotated[str | None, typer.Option(help="Brand name or id ('' removes it).")]
CategoryOpt = Annotated[str | None, typer.Option(help="Category id or 'A / B / C'.")]
NewKeysOpt = Annotated[
    bool, typer.Option("--allow-new-keys", help="Allow keys the class does not use yet.")
]


@catalog_app.command()
def create(
    product: Annotated[str, typer.Argument(help="The new product's id.")],
    set_: SetOpt = [],  # noqa: B006 - typer copies defaults
    attr: AttrOpt = [],  # noqa: B006
    brand: BrandOpt = None,
    category: CategoryOpt = None,
    allow_new_keys: NewKeysOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a product: --set name=... --category ... [--brand] [--attr key=value]."""
    _Session.as_json = as_json
    with _errors():
        fields = {"product_id": product, **_fields(set_, attr, brand, category)}
        result = _ops().products.create(fields, actor=_Session.user, allow_new_keys=allow_new_keys)
    _edited(result, "created")


@catalog_app.command()
def update(
    product: str,
    expected_version: VersionOpt = None,
    set_: SetOpt = [],  # noqa: B006
    attr: AttrOpt = [],  # noqa: B006
    brand: BrandOpt = None,
    category: CategoryOpt = None,
    allow_new_keys: NewKeysOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Change only the given fields of a product."""
    _Session.as_json = as_json
    with _errors():
        fields = _fields(set_, attr, brand, category)
        if not fields:
            raise ValueError("nothing to change: pass --set, --attr, --brand or --category")
        ops = _ops()
        result = ops.products.update(
            product,
            fields,
            expected_version=_version(ops.products, product, expected_version),
            actor=_Session.user,
            allow_new_keys=allow_new_keys,
        )
    _edited(result, "updated")


@catalog_app.command()
def delete(product: str, expected_version: VersionOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a product (its relations are logged, so `undo` restores them)."""
    _Session.as_json = as_json
    _delete(lambda ops: ops.products, product, expected_version)


@catalog_app.command()
def merge(
    winner: str,
    loser: str,
    expected_version: VersionOpt = None,
    source_expected_version: SourceVersionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge duplicate product LOSER into WINNER and delete LOSER."""
    _Session.as_json = as_json
    _merge(lambda ops: ops.products, winner, loser, expected_version, source_expected_version)


@catalog_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="product.csv (WANDS, tab-separated) or .jsonl")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff only.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete products the file does not list.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete more than max_delete_share anyway.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows, report the rest.")
    ] = False,
    allow_new_keys: NewKeysOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a catalogue file, show the diff, and (unless --dry-run) write it atomically."""
    _Session.as_json = as_json
    with _errors():
        report = _ops().imports.run(
            file,
            actor=_Session.user,
            mode="replace" if replace else "upsert",
            dry_run=dry_run,
            force=force,
            skip_invalid=skip_invalid,
            allow_new_keys=allow_new_keys,
        )
    body = report.as_dict()
    counts = body["counts"]
    lines = [
        f"{'dry run: ' if dry_run else ''}{counts}"
        + (f", written at revision {report.revision}" if report.written else "")
    ]
    for change in report.changed[:20]:
        for f in change.fields:
            lines.append(f"  ~ {change.product_id} {f.field}: {f.before!r} -> {f.after!r}")
    lines += [f"  + {p}" for p in report.added[:20]]
    lines += [f"  - {p}" for p in report.removed[:20]]
    lines += [f"  ! {i}" for i in report.invalid[:20]]
    lines += [f"  refused: {i}" for i in report.refused]
    _print(body, "\n".join(lines))


@catalog_app.command()
def audit(
    entity: Annotated[
        str | None, typer.Option("--entity", help="An entity id (or product id).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this actor's changes.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """The change log, newest first."""
    _Session.as_json = as_json
    if entity is not None and ":" not in entity:
        entity = f"product:{entity}"
    with _errors():
        entries, more = _ops().history.audit(
            entity_id=entity, actor=user, limit=limit, offset=offset
        )
    items = [e.as_dict() for e in entries]
    rows = [
        f"#{i['seq']}\t{i['at']}\t{i['actor']}\t{i['op']}\t{i['entity_id']}"
        + (f"\t{json.dumps(i['diff'])}" if i["diff"] else "")
        for i in items
    ]
    _print({"items": items, "has_more": more}, "\n".join(rows) or "no changes")


@catalog_app.command()
def undo(change_id: int, as_json: JsonOpt = False) -> None:
    """Revert one change of the log (itself a new, logged change)."""
    _Session.as_json = as_json
    with _errors():
        result = _ops().history.undo(change_id, actor=_Session.user)
    _edited(result, f"undid #{change_id}:")


@catalog_app.command()
def relate(
    source: str,
    relation: Annotated[str, typer.Argument(metavar="TYPE")],
    target: str,
    expected_version: VersionOpt = None,
    remove: Annotated[bool, typer.Option("--remove", help="Unrelate instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add (or with --remove, delete) SOURCE -TYPE-> TARGET."""
    from catalogue.ops import parse_relation

    _Session.as_json = as_json
    with _errors():
        ops = _ops()
        rel = parse_relation(source, relation, target)
        if expected_version is None:
            found = ops.store.get(rel.source)
            expected_version = found.version if found else 0
        if remove:
            result = ops.relations.unrelate(
                rel, expected_version=expected_version, actor=_Session.user
            )
        else:
            result = ops.relations.relate(
                rel, expected_version=expected_version, actor=_Session.user
            )
    _edited(result, "unrelated" if remove else "related")


# -- named entities: one command group per declared kind (catalogue.kinds.NAMED_KINDS) -----


def _typed(command: Callable[..., None], **types: Any) -> Callable[..., None]:
    """``command`` with the real types of the parameters that depend on the kind (typer
    reads them: their help names the kind)."""
    command.__annotations__.update(types)
    return command


def _named_app(spec: EntityKindSpec) -> typer.Typer:
    """``kgsearch catalog <path> list|create|rename|delete`` (+ ``move`` for a kind in a
    tree, ``merge`` for one that merges), over ``CatalogOps.named[spec.kind]``."""
    kind, label = spec.kind, spec.label
    verbs = ["list", "create", "rename", *(["move"] if spec.tree else [])]
    verbs += [*(["merge"] if spec.mergeable else []), "delete"]
    group = typer.Typer(
        name=spec.path, help=f"{spec.path.capitalize()}: {', '.join(verbs)}.", no_args_is_help=True
    )
    entity = Annotated[str, typer.Argument(metavar="ID", help=f"A {label} id ({spec.prefix}...).")]
    parent = Annotated[
        str | None,
        typer.Option(
            "--parent", hidden=not spec.tree, help=f"The parent {label}'s id; omitted: the top."
        ),
    ]

    def named(ops: CatalogOps) -> NamedOps:
        return ops.named[kind]

    def listed(as_json: JsonOpt = False) -> None:
        _Session.as_json = as_json
        with _errors():
            items = named(_ops()).list()
        rows = [
            f"{n.entity_id}\tv{n.version}\t{n.products} products\t{' / '.join(n.path) or n.name}"
            for n in items
        ]
        _print({"items": [n.as_dict() for n in items]}, "\n".join(rows) or f"no {spec.path}")

    def create(name: str, parent: str | None = None, as_json: JsonOpt = False) -> None:
        _Session.as_json = as_json
        with _errors():
            result = named(_ops()).create(name, parent=parent, actor=_Session.user)
        _edited(result, "created")

    def rename(
        eid: str, name: str, expected_version: VersionOpt = None, as_json: JsonOpt = False
    ) -> None:
        _Session.as_json = as_json
        with _errors():
            of = named(_ops())
            result = of.rename(
                eid, name, expected_version=_version(of, eid, expected_version), actor=_Session.user
            )
        _edited(result, "renamed")

    def move(
        eid: str,
        parent: str | None = None,
        top: Annotated[bool, typer.Option("--top", help="Move it to the top.")] = False,
        expected_version: VersionOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _Session.as_json = as_json
        with _errors():
            if (parent is None) == (not top):
                raise ValueError("pass --parent ID or --top")
            of = named(_ops())
            result = of.update(
                eid,
                expected_version=_version(of, eid, expected_version),
                actor=_Session.user,
                parent=parent,
                move=True,
            )
        _edited(result, "moved")

    def merge(
        winner: str,
        loser: str,
        expected_version: VersionOpt = None,
        source_expected_version: SourceVersionOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _Session.as_json = as_json
        _merge(named, winner, loser, expected_version, source_expected_version)

    def delete(eid: str, expected_version: VersionOpt = None, as_json: JsonOpt = False) -> None:
        _Session.as_json = as_json
        _delete(named, eid, expected_version)

    winner = Annotated[str, typer.Argument(metavar="WINNER", help=f"The {label} kept.")]
    loser = Annotated[str, typer.Argument(metavar="LOSER", help=f"The {label} merged away.")]
    group.command("list", help=f"Every {label}: id, version, products, name.")(listed)
    group.command("create", help=f"Create a {label}.")(_typed(create, parent=parent))
    group.command("rename", help=f"Rename a {label} (its id stays).")(_typed(rename, eid=entity))
    if spec.tree:
        move_help = f"Move a {label} under --parent, or to the --top."
        under = Annotated[str | None, typer.Option("--parent", help=f"The new parent {label}.")]
        group.command("move", help=move_help)(_typed(move, eid=entity, parent=under))
    if spec.mergeable:
        merge_help = "Re-link LOSER's products to WINNER and delete LOSER."
        group.command("merge", help=merge_help)(_typed(merge, winner=winner, loser=loser))
    delete_help = f"Delete a {label} no product uses."
    group.command("delete", help=delete_help)(_typed(delete, eid=entity))
    return group


for _spec in NAMED_KINDS:
    catalog_app.add_typer(_named_app(_spec))


# -- aliases (catalogue.aliases) -------------------------------------------------------------

aliases_app = typer.Typer(
    name="aliases",
    help="Other words for a brand, category or attribute value: list, show, add, remove, set.",
    no_args_is_help=True,
)
catalog_app.add_typer(aliases_app, name="aliases")
AliasEntity = Annotated[
    str, typer.Argument(metavar="ID", help="brand:..., category:... or attr:key=value")
]


def _alias_version(ops: CatalogOps, eid: str, given: int | None) -> int:
    return given if given is not None else ops.aliases.get(eid).version


@aliases_app.command("list", help="Every entity with aliases: id, version, name, aliases.")
def aliases_list(as_json: JsonOpt = False) -> None:
    _Session.as_json = as_json
    with _errors():
        items = _ops().aliases.list()
    rows = [f"{v.entity_id}\tv{v.version}\t{v.name}\t{', '.join(v.aliases)}" for v in items]
    _print({"items": [v.as_dict() for v in items]}, "\n".join(rows) or "no aliases")


@aliases_app.command("show", help="One entity's aliases and version.")
def aliases_show(eid: AliasEntity, as_json: JsonOpt = False) -> None:
    _Session.as_json = as_json
    with _errors():
        view = _ops().aliases.get(eid)
    _print(view.as_dict(), f"{view.entity_id} v{view.version} {view.name}: {list(view.aliases)}")


@aliases_app.command("add", help="Give ID one more alias (folded: case and accents do not count).")
def aliases_add(
    eid: AliasEntity,
    alias: Annotated[str, typer.Argument(help="The other word, e.g. couch.")],
    expected_version: VersionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    _Session.as_json = as_json
    with _errors():
        ops = _ops()
        version = _alias_version(ops, eid, expected_version)
        result = ops.aliases.add(eid, alias, expected_version=version, actor=_Session.user)
    _edited(result, "aliased")


@aliases_app.command("remove", help="Remove one alias of ID.")
def aliases_remove(
    eid: AliasEntity,
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
    expected_version: VersionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    _Session.as_json = as_json
    with _errors():
        ops = _ops()
        version = _alias_version(ops, eid, expected_version)
        result = ops.aliases.remove(eid, alias, expected_version=version, actor=_Session.user)
    _edited(result, "unaliased")


@aliases_app.command("set", help="Replace ID's aliases with ALIAS... (none: remove them all).")
def aliases_set(
    eid: AliasEntity,
    aliases: Annotated[list[str] | None, typer.Argument(metavar="ALIAS...")] = None,
    expected_version: VersionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    _Session.as_json = as_json
    with _errors():
        ops = _ops()
        version = _alias_version(ops, eid, expected_version)
        result = ops.aliases.replace(
            eid, list(aliases or []), expected_version=version, actor=_Session.user
        )
    _edited(result, "aliases set on")


def _key_store() -> KeyStore:
    from app.auth import KeyStore

    settings = _settings()
    return KeyStore(path=settings.api_keys_file or settings.data_dir / "api_keys.json")


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str, typer.Option("--role", help="viewer, editor, merchandiser, storefront or admin.")
    ],
    user: Annotated[str, typer.Option("--user", help="Whose key (the change log's actor).")],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    from app.auth import Role

    _Session.as_json = as_json
    with _errors():
        try:
            chosen = Role(role)
        except ValueError:
            raise ValueError(
                f"--role must be one of {', '.join(r.value for r in Role)}, not {role!r}"
            ) from None
        created = _key_store().create(user=user, role=chosen, created_by=f"cli:{_Session.user}")
    body = {"key": created.key, "key_id": created.key_id, "user": created.user, "role": role}
    _print(body, f"{created.key}\n(key id {created.key_id}; store it now, it is not shown again)")


@keys_app.command("list")
def keys_list(as_json: JsonOpt = False) -> None:
    """Keys with their ids, users and roles (never the keys)."""
    _Session.as_json = as_json
    with _errors():
        items = _key_store().list()
    rows = [
        f"{k['key_id']}\t{k['role']}\t{k['user']}{' (revoked)' if k.get('revoked') else ''}"
        for k in items
    ]
    _print({"items": items}, "\n".join(rows) or "no keys")


@keys_app.command("revoke")
def keys_revoke(key_id: str, as_json: JsonOpt = False) -> None:
    """Revoke a key by its id."""
    _Session.as_json = as_json
    with _errors():
        if not _key_store().revoke(key_id):
            raise ValueError(f"no active key {key_id!r}")
    _print({"key_id": key_id, "revoked": True}, f"revoked {key_id}")
