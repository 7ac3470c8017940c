"""``assistant templates``: commands about the reminder templates."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from assistant.cli import cli
from assistant.template_checks import TemplateReport, check_templates
from assistant.templating import shipped_template_dir


@cli.group("templates")
def templates_group() -> None:
    """Inspect the reminder templates."""


@templates_group.command("check")
@click.option(
    "--dir",
    "template_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of your templates, which override the shipped ones by file name "
    "(default: the templates folder in the user config directory).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the results as JSON on stdout."
)
def check_command(template_dir: Path | None, as_json: bool) -> None:
    """Render every reminder template with sample invoices and check its wording.

    Exits with status 1 when any template breaks a rule, so scripts can stop on it.
    """
    reports = check_templates(template_dir)
    if as_json:
        click.echo(json.dumps([_report_json(report) for report in reports], indent=2))
    else:
        _print_table(reports)

    failed = sum(1 for report in reports if not report.passed)
    if failed:
        click.echo(f"{failed} of {len(reports)} templates break a rule.", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"All {len(reports)} templates pass.", err=True)


def _report_json(report: TemplateReport) -> dict[str, object]:
    return {
        "template": report.name,
        "path": str(report.path),
        "passed": report.passed,
        "failures": [
            {"rule": failure.rule, "message": failure.message}
            for failure in report.failures
        ],
    }


def _print_table(reports: list[TemplateReport]) -> None:
    shipped = shipped_template_dir()
    table = Table("Template", "Source", "Rule", "Result")
    for report in reports:
        source = "shipped" if report.path.parent == shipped else str(report.path.parent)
        if report.passed:
            table.add_row(report.name, source, "all", "ok")
        for failure in report.failures:
            table.add_row(report.name, source, failure.rule, failure.message)
    Console().print(table)
