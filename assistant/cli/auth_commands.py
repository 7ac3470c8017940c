"""``assistant auth``: sign in to Gmail and store the token."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from assistant import auth, paths
from assistant.cli import AppContext, cli
from assistant.errors import UsageError


@cli.command("auth")
@click.option(
    "--credentials",
    "credentials_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="OAuth client file (Desktop app) downloaded from the Google Cloud console "
    "(default: credentials.json in the user config directory).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Local port that receives Google's redirect after consent; 0 picks a free one.",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Print the sign-in URL instead of opening a browser; open it on this computer.",
)
@click.pass_obj
def auth_command(
    app: AppContext, credentials_path: Path | None, port: int, no_browser: bool
) -> None:
    """Sign in to Gmail with Google's consent screen and store the token.

    The token is saved with mode 0600 in the user config directory. Requested
    scopes: gmail.readonly (find sent invoices and replies) and gmail.compose
    (create and send reminder drafts).
    """
    if app.uses_sandbox:
        raise UsageError(
            "the sandbox needs no sign-in; drop --gmail-url to sign in to Gmail"
        )
    auth.install_token_log_filter()
    token_path = paths.default_token_path()
    # The OAuth library prints the sign-in URL to stdout; stdout is kept for
    # machine-readable output, so the prompt goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        auth.sign_in(
            credentials_path or auth.default_credentials_path(),
            token_path=token_path,
            port=port,
            open_browser=not no_browser,
        )
    click.echo(f"Signed in to Gmail. Token saved to {token_path}", err=True)
