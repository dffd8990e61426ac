"""A manifest reads files only inside its own folder tree (issue 22, item 1): a feed named by an
absolute path, by `..` out, through a symlink out, in `.git`, or that is not a regular file is
refused at its `file:` line, and nothing of what it names ever reaches an error, the state or
`plan`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jogg_flow.errors import ManifestError
from jogg_flow.manifest import load_manifest

from .conftest import FAKE_KEY, ROOT

TOKEN = "ghs_CheckoutToken0123456789abcdef"
GIT_CONFIG = f"""[remote "origin"]
\turl = https://github.com/acme/shop
[http "https://github.com/"]
\textraheader = AUTHORIZATION: basic {TOKEN}
"""
FEED = "handle,link,title\na-1,https://shop.example.com/a-1,Lamp\n"


def manifest(folder, file: str, fmt: str = "csv") -> str:
    path = folder / "shop.yaml"
    path.write_text(f"version: 1\nproducts_from:\n  - file: '{file}'\n    format: {fmt}\n"
                    "    product:\n      key: '{{ row.handle | lower }}'\n      url: '{{ row.link }}'\n"
                    "      details: {title: '{{ row.title }}'}\n")
    return str(path)


@pytest.fixture
def checkout(tmp_path):
    """A repository checked out by CI: its token in .git/config, a manifest under shop/."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(GIT_CONFIG)
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "catalog.csv").write_text(FEED)
    return tmp_path


def refused(run, path: str, *, env=None, command: str = "validate") -> str:
    result = run(command, path, env=env)
    out = result.output + result.stderr
    assert result.exit_code == 3, out
    assert "Traceback" not in out and TOKEN not in out and FAKE_KEY not in out
    return str(result.stderr).strip()


def test_a_feed_up_and_out_of_the_manifests_folder_is_refused_at_its_line(checkout, run):
    path = manifest(checkout / "shop", "../.git/config")
    assert refused(run, path) == (f"{path}:3:11: ../.git/config: leads outside the manifest's folder; "
                                  "feeds are named relative to the manifest's folder and stay inside it")
    refused(run, path, command="plan")
    assert not (checkout / "shop" / ".jogg-flow").exists()


def test_an_absolute_path_is_refused_whatever_it_names(checkout, run):
    path = manifest(checkout / "shop", "/proc/self/environ")
    assert refused(run, path, env={"JOGG_API_KEY": FAKE_KEY}) == (
        f"{path}:3:11: /proc/self/environ: is an absolute path; feeds are named relative to the "
        "manifest's folder and stay inside it")
    inside = manifest(checkout / "shop", str(checkout / "shop" / "catalog.csv"))
    assert "is an absolute path" in refused(run, inside)


def test_the_git_folder_of_a_manifest_at_the_top_of_the_checkout_is_refused(checkout, run):
    path = manifest(checkout, ".git/config")
    assert refused(run, path) == f"{path}:3:11: .git/config: is inside a .git folder, not a feed"
    assert "is inside a .git folder" in refused(run, manifest(checkout, "shop/../.GIT/config"))


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="symlinks")
def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_is_read(checkout, run):
    shop = checkout / "shop"
    (shop / "link.csv").symlink_to(checkout / ".git" / "config")
    path = manifest(shop, "link.csv")
    assert refused(run, path) == (f"{path}:3:11: link.csv: leads through a symbolic link outside the "
                                  "manifest's folder; feeds are named relative to the manifest's "
                                  "folder and stay inside it")
    (shop / "up").symlink_to(checkout)  # a folder link: the file under it is outside too
    assert "through a symbolic link outside" in refused(run, manifest(shop, "up/.git/config"))
    (shop / "same.csv").symlink_to(shop / "catalog.csv")
    (video,) = load_manifest(manifest(shop, "same.csv")).videos
    assert video.details["title"] == "Lamp"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_in_the_folder_is_refused_without_waiting_for_a_writer(tmp_path):
    # A subprocess, so that the old code (which waits forever in open()) fails the test
    # instead of hanging the suite.
    os.mkfifo(tmp_path / "feed.csv")
    path = manifest(tmp_path, "feed.csv")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "jogg_flow", "validate", path], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 3
    assert done.stderr.strip() == (f"{path}:3:11: {tmp_path / 'feed.csv'}: is not a regular file "
                                   "(a device, pipe or socket); refused")


def test_a_folder_and_a_missing_file_are_one_line_each(tmp_path):
    (tmp_path / "sub.csv").mkdir()
    with pytest.raises(ManifestError) as err:
        load_manifest(manifest(tmp_path, "sub.csv"))
    assert str(err.value).endswith(f"{tmp_path / 'sub.csv'}: is a directory, not a feed file")
    with pytest.raises(ManifestError) as err:
        load_manifest(manifest(tmp_path, "nothing/here.csv"))
    assert str(err.value).endswith("cannot read (No such file or directory)")


def test_a_nul_byte_in_the_name_is_refused_without_a_traceback(tmp_path, run):
    path = tmp_path / "shop.yaml"
    path.write_text('version: 1\nproducts_from:\n  - file: "feed\\0.csv"\n    product:\n'
                    "      key: '{{ row.handle }}'\n      url: '{{ row.link }}'\n")
    result = run("validate", str(path))
    assert result.exit_code == 3 and "Traceback" not in result.output + result.stderr
    assert "a file name cannot hold a NUL byte" in result.stderr


def test_init_from_a_feed_outside_the_new_manifests_folder_is_refused(checkout, run):
    target = checkout / "shop" / "sub" / "new.yaml"
    target.parent.mkdir()
    result = run("init", str(target), "--from", str(checkout / "shop" / "catalog.csv"))
    assert result.exit_code == 3 and not target.exists()
    assert "is outside the new manifest's folder" in result.stderr
    assert run("init", str(checkout / "shop" / "new.yaml"), "--from",
               str(checkout / "shop" / "catalog.csv")).exit_code == 0
