"""`--project` takes a folder or a team project's PostgreSQL URL with `--media-root`; bad ones are one line."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from detector_app.cli.main import main
from detector_app.cli.project_arg import TeamProject
from detector_app.storage import Project

from .backends import ProjectSource

if TYPE_CHECKING:
    from .pg_server import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def team(postgres_server: PostgresServer, project_dir: Path) -> Iterator[ProjectSource]:
    """An empty PostgreSQL database with ``project_dir`` as its media root."""
    name = f"cli_{uuid.uuid4().hex[:12]}"
    yield ProjectSource("postgresql", project_dir, postgres_server.create_database(name))
    postgres_server.drop_database(name)


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    return err


def test_a_team_project_opens_by_url_with_its_media_root(team: ProjectSource,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    team.open().close()  # a new team database becomes a project (migrated) on its first open
    assert main(["stats", "--media-root", str(team.folder), "--project", str(team.url)]) == 0  # either order
    assert "images: 0" in capsys.readouterr().out
    with team.open(create=False) as project:
        assert project.path == team.folder.resolve() and project.frames_dir.is_dir()
        assert project.url is not None and "***" in project.url and team.url not in project.location
        assert project.repo.stored_path(team.folder / "a" / "b.png") == "a/b.png"  # relative to the media root


def test_bad_urls_and_servers_are_one_line_without_the_password(team: ProjectSource, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert team.url is not None
    user, rest = team.url.split("://", 1)[1].split("@", 1)
    password = user.split(":", 1)[1]
    wrong = team.url.replace(f":{password}@", ":not-the-password@")
    other_db = team.url.replace("@/", "@/no_such_db").replace("/test_", "/x_")
    no_server = team.url.replace("host=", "host=/nowhere")
    root = ["--media-root", str(team.folder)]
    cases = {
        "password authentication failed": ["stats", "--project", wrong, *root],
        "does not exist": ["stats", "--project", other_db, *root],
        "No such file or directory": ["stats", "--project", no_server, *root],
        "not supported": ["stats", "--project", "mysql://u:pw@host/db", *root],
        "needs its media root": ["stats", "--project", team.url],
        "is the shared folder mounted": ["stats", "--project", team.url, "--media-root", str(tmp_path / "gone")],
    }
    for expected, args in cases.items():
        err = one_line_error(capsys, *args)
        assert expected in err, err
        assert password not in err and "not-the-password" not in err, err


def test_a_database_that_is_not_a_project_yet_is_refused_where_creating_is_not_allowed(
        team: ProjectSource, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, "queue", *team.cli_args)
    assert "not a detector-app project yet" in err
    with pytest.raises(Exception, match="not a detector-app project yet"):
        Project.open(team.url, media_root=team.folder, create=False)


def test_the_password_never_shows_in_the_parsed_option() -> None:
    assert "s3cret" not in str(TeamProject("postgresql+psycopg://me:s3cret@db.example/labels"))
