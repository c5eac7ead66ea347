"""``ngsharectl deleted``: what admins may still restore, and restoring it.

Deleting a course, an assignment or an enrollment hides it; an admin can
bring it back until the server's retention period ends (see the admin guide).
Both actions use the own API (``api/v2/admin/deleted``).
"""

from __future__ import annotations

import argparse

from ngshare.cli.context import Context, Subcommands
from ngshare.cli.errors import ExitCode
from ngshare.cli.output import table
from ngshare.client import api

KINDS = ("course", "assignment", "enrollment")


def list_deleted(args: argparse.Namespace, ctx: Context) -> ExitCode:
    items = api.deleted_items(ctx.api)
    rows = [
        [
            item.get("kind"),
            item.get("id"),
            item.get("course"),
            f"{item.get('name')}" + (f" ({item['role']})" if item.get("role") else ""),
            item.get("deleted_at"),
            item.get("deleted_by"),
            item.get("purge_after"),
        ]
        for item in items
    ]
    headers = ["kind", "id", "course", "name", "deleted at", "by", "restorable until"]
    text = table(headers, rows) if rows else "Nothing deleted is waiting to be purged."
    ctx.out.result(items, text)
    return ExitCode.OK


def restore(args: argparse.Namespace, ctx: Context) -> ExitCode:
    api.restore(ctx.api, args.kind, args.id)
    ctx.out.result(
        {"kind": args.kind, "id": args.id, "restored": True},
        f"Restored the {args.kind} {args.id}.",
    )
    return ExitCode.OK


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "deleted", help="deleted courses, assignments, enrollments (admins)", parents=[common]
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    parser = actions.add_parser(
        "list",
        parents=[common],
        help="what was deleted and may still be restored",
        description="List deleted courses, assignments and enrollments, newest first, with "
        "who deleted them and until when they can be restored. Items of a deleted course "
        "come back with it and are not listed on their own. Admins only.",
    )
    parser.set_defaults(handler=list_deleted)

    parser = actions.add_parser(
        "restore",
        parents=[common],
        help="bring a deleted item back",
        description="Restore a deleted course, assignment or enrollment by the kind and id "
        "`deleted list` shows; a deleted assignment comes back with its submissions and "
        "feedback. Admins only.",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("id", type=int, metavar="ID")
    parser.set_defaults(handler=restore)
