"""`jogg-flow init`: a commented starter manifest."""

from __future__ import annotations

import os

from ..errors import UsageError

STARTER = """\
# For completion and checks in your editor, run `jogg-flow schema > jogg-flow.schema.json`
# and keep the next line:
# yaml-language-server: $schema=jogg-flow.schema.json
#
# A jogg-flow manifest: each product page becomes a JoggAI promotional video.
#   jogg-flow validate {name}          check it (no network, no key)
#   jogg-flow plan {name}              see what apply would do
#   jogg-flow apply {name} --sandbox   try it against the built-in sandbox
#   JOGG_API_KEY=... jogg-flow apply {name}
version: 1

# Which JoggAI API generation to speak (each has its own ids: pick one and keep it):
#   v1    https://api.jogg.ai/v1/... what JoggAI's own n8n node and the no-code
#         integrations (Pipedream, Activepieces) call today. Start here.
#   v2    https://api.jogg.ai/v2/... JoggAI's current documentation.
#   open  https://api-services.jogg.ai/open/... the Nov-2024 flow jogg-flow began with,
#         kept for existing manifests.
api:
  version: v1

# Environment variables templates may read as {{{{ env.NAME }}}}; no other is visible, and
# names that look like credentials (tokens, keys, passwords) are refused.
env: [TARGET_AUDIENCE]

# Values for templates: "{{{{ vars.brand }}}}". A var may use env and earlier vars.
vars:
  brand: Acme
  audience: "{{{{ env.TARGET_AUDIENCE | default('busy parents') }}}}"

# Merged under every product; a product's own values win.
defaults:
  details:
    target_audience: "{{{{ vars.audience }}}}"
  render:
    aspect_ratio: "9:16"        # 9:16 | 16:9 | 1:1, portrait | landscape | square
    lang: english
    render_subtitle: true
    avatar_id: 37               # `jogg-flow catalog avatars` lists them
    avatar_type: public         # public (JoggAI's avatars) | custom (yours)
    video_length: 30            # 15 | 30 | 60 seconds
    template_type: common       # common (JoggAI's library) | user (yours)
    script_style: Discovery     # e.g. Soft Selling, Data, Top 3 reasons, Problem/Solution
    # voice_id: en-US-ChristopherNeural   # `jogg-flow catalog voices`

products:
  - key: first-product          # unique; [a-z0-9][a-z0-9._-]*
    url: https://www.example.com/products/first-product
    tags: [launch]              # select with --select tag:launch
    details:                    # optional: overrides what JoggAI read from the page
      title: "{{{{ vars.brand }}}} First Product"
      intro_text: What makes it worth buying, in a sentence or two.
    # variants:                 # optional: one video per variant
    #   - name: landscape
    #     render: {{aspect_ratio: "16:9"}}
"""


def write_starter(path: str, force: bool = False) -> str:
    """Write the starter manifest to `path`; refuse to overwrite unless `force`."""
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(STARTER.format(name=os.path.basename(path)))
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    return path


IGNORED = ".jogg-flow/"
_IGNORE_BLOCK = ("# jogg-flow: the state, its journal and lock, and sandbox trials stay out of git\n"
                 f"{IGNORED}\n")


def ignore_state_folder(manifest: str) -> str | None:
    """Keep `.jogg-flow/` (beside the manifest) out of git: write a `.gitignore` there, or add
    the line to the one there is. Returns the file written, or None if it already said so."""
    folder = os.path.dirname(manifest)
    path = os.path.join(folder, ".gitignore") if folder else ".gitignore"
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError):
        return None  # not ours to repair: the manifest is written, the user sees no .gitignore line
    if text is not None and any(line.strip().strip("/") == IGNORED.strip("/")
                                for line in text.splitlines()):
        return None
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(("" if not text or text.endswith("\n") else "\n") + _IGNORE_BLOCK)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None
    return path

