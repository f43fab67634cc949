"""Plain `--help` text for every idaas command: no type noise (`<bool>`, `<int range> [x>=1]`),
upper-case placeholders (`NAME`, `--limit N`), ranges in words, and lines wide enough that
defaults are not cut."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

HELP_WIDTH = 120  # help lines wrap here at most, and never below this when output is piped


def _placeholder(param: Any) -> str:
    desc = getattr(param, "type_descriptor", None)
    annotation = getattr(desc, "annotation", None)
    if getattr(desc, "is_path", False) or annotation is Path:
        return "PATH"
    if annotation is int:
        return "N"
    if annotation is float:
        return "X"
    return "TEXT"


def _range_words(low: Any, high: Any) -> str | None:
    if low is None and high is None:
        return None
    if high is None:
        return f"at least {low}"
    if low is None:
        return f"at most {high}"
    return f"{low} to {high}"


def plain_help(command: Any) -> None:
    """Walk a click command tree (from typer.main.get_command) and make its help plain."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None  # click's own formatter: no boxes, no type column
    for param in getattr(command, "params", []):
        if param.param_type_name == "argument":
            param.metavar = param.metavar or param.name.upper()
            param.display_type_rich = lambda ctx: None  # the row already shows NAME; no `<str>` after it
            usage = param.metavar + ("..." if param.nargs != 1 else "")
            param._usage_display_name = lambda u=usage, p=param: u if p.required else f"[{u}]"
        elif not getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = _placeholder(param)
        words = _range_words(getattr(param, "min", None), getattr(param, "max", None))
        # An instance attribute shadows the method that prints ranges as `x>=1`.
        param._get_number_range_help_str = lambda w=words: w
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)


def context_settings() -> dict[str, int]:
    # click wraps to the terminal's width, and to 80 columns when piped; defaults read better whole.
    width = max(shutil.get_terminal_size((HELP_WIDTH, 24)).columns, HELP_WIDTH)
    return {"max_content_width": HELP_WIDTH, "terminal_width": width}
