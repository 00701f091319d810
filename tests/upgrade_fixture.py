"""Make the "previous build" data folder that the upgrade tests install (run by hand, once).

    git worktree add /tmp/tiro-prev <COMMIT>       # the previous release's code
    .venv/bin/python tests/upgrade_fixture.py --code /tmp/tiro-prev \\
        --commit <COMMIT> --out tests/data/upgrade/<name>.tar.gz

The script imports Tiro from ``--code`` (never from this checkout) and only uses APIs
that existed there, so the folder is exactly what that build would have left in
TIRO_HOME: ``tiro.sqlite`` at its schema version, with a transcript of the self-test
clip made by the real model, one correction, learning consent, and a personalized
model (lexicon + rules) published through its registry as the champion. Written to
a ``.tar.gz`` with ``fixture.json`` describing it (commit, schema version, champion,
expected transcript text). ``tests/test_upgrade.py`` and CI's bundle check install
it and run the new code or the frozen build against it. Never edit a released fixture;
add a new one for the next release.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

PERSONAL_TERM = "Kennedy"
RULE_SOURCE = ("fellow", "americans")
RULE_TARGET = "fellow Americans"


def make(code: Path, commit: str, out: Path) -> dict:
    sys.path.insert(0, str(code.resolve()))
    with tempfile.TemporaryDirectory(prefix="tiro-upgrade-fixture-") as scratch:
        home = Path(scratch) / "home"
        os.environ["TIRO_HOME"] = str(home)
        import engine
        from engine.bundle import CorrectionRule, LexiconTerm, ModelBundle
        from engine.corpus import SELF_TEST_CLIP, reference_set
        from retrain.importer import import_file
        from retrain.registry import Registry
        from retrain.store import SCHEMA_VERSION, Store
        from retrain.store.edits import TextEdit

        assert Path(engine.__file__).resolve().is_relative_to(code.resolve()), engine.__file__
        clip = next(i for i in reference_set() if i.name == SELF_TEST_CLIP)
        with Store.open() as store:
            result = import_file(store, clip.path)
            transcript_id = result.transcript_id
            view = store.load_transcript(transcript_id)
            first = view.segments[0]
            corrected = first.text.replace("fellow americans", "fellow Americans")
            corrected = corrected if corrected != first.text else first.text + " (reviewed)"
            store.apply_edit(transcript_id, TextEdit(first.id, first.text, corrected)).result()
            store.set_consent(True, "fixture").result()
            draft = ModelBundle(
                version="",
                kind="personal",
                directory=None,
                lexicon=(LexiconTerm(PERSONAL_TERM, evidence=2),),
                rules=(CorrectionRule(RULE_SOURCE, RULE_TARGET, support=2),),
                lineage={"made_by": "tests/upgrade_fixture.py", "commit": commit},
            )
            info = Registry(store).publish(draft, status_reason="fixture")
            texts = [s.text for s in store.load_transcript(transcript_id).segments]
        description = {
            "commit": commit,
            "schema_version": SCHEMA_VERSION,
            "champion": info.version,
            "transcript_id": transcript_id,
            "segment_texts": texts,
            "lexicon": [PERSONAL_TERM],
            "rules": [[list(RULE_SOURCE), RULE_TARGET]],
            "generated_home": str(home),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            for path in [*sorted(home.glob("tiro.sqlite*")), home / "models" / "personal"]:
                tar.add(path, arcname=f"home/{path.relative_to(home).as_posix()}")
            data = json.dumps(description, indent=2).encode() + b"\n"
            member = tarfile.TarInfo("fixture.json")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return description


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, required=True, help="a checkout of the old commit")
    parser.add_argument("--commit", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(make(args.code, args.commit, args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
