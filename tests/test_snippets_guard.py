"""The write guard: a snippet may not change the project's files, whatever call it uses.

Every variant below runs as its own snippet; each must fail with a PermissionError reported at
the offending snippet line, and after the build every project file is byte-identical."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "snippets_project"))
from snippets_helpers import engine, make_project  # noqa: E402

#: Opens a project folder as ``d`` and moves the cwd to a temp dir: a check resolving the
#: relative path against the cwd (not ``dir_fd``) would let the ``dir_fd=`` calls through.
AWAY = "import os, tempfile\nd = os.open({folder!r}, os.O_RDONLY)\nos.chdir(tempfile.mkdtemp())\n"

#: name -> body of the offending cell; the LAST line of each body is the offending call.
VARIANTS = {
    "open_w": "open('docs/index.md', 'w')",
    "open_a": "open('docs/index.md', 'a').write('x')",
    "open_rplus": "open('docs/index.md', 'r+')",
    "open_x_new": "open('docs/new.md', 'x')",
    "path_write_text": "from pathlib import Path\nPath('docs/index.md').write_text('')",
    "path_touch_new": "from pathlib import Path\nPath('docs/new.md').touch()",
    "os_open_rdonly_trunc": "import os\nos.open('docs/index.md', os.O_RDONLY | os.O_TRUNC)",
    "os_open_creat": "import os\nos.open('docs/new.md', os.O_RDONLY | os.O_CREAT)",
    "os_open_wronly": "import os\nos.open('fakecore/b.py', os.O_WRONLY)",
    "os_open_append": "import os\nos.open('data/values.txt', os.O_RDONLY | os.O_APPEND)",
    "os_open_dir_fd_trunc": AWAY.format(folder='docs') + "os.open('index.md', os.O_RDONLY | os.O_TRUNC, dir_fd=d)",
    "os_open_dir_fd_creat": AWAY.format(folder='docs') + "os.open('new.md', os.O_WRONLY | os.O_CREAT, dir_fd=d)",
    "posix_open_dir_fd": AWAY.format(folder="docs") + "import posix\nposix.open('index.md', os.O_RDWR, dir_fd=d)",
    "opener_dir_fd": AWAY.format(folder='docs') + "open('index.md', 'w', opener=lambda p, f: os.open(p, f, dir_fd=d))",
    "remove": "import os\nos.remove('docs/index.md')",
    "unlink_dir_fd": AWAY.format(folder='docs') + "os.unlink('index.md', dir_fd=d)",
    "rename": "import os\nos.rename('docs/index.md', 'docs/moved.md')",
    "rename_dir_fd": AWAY.format(folder='docs') + "os.rename('index.md', 'moved.md', src_dir_fd=d, dst_dir_fd=d)",
    "replace_from_tmp": "import os, tempfile\nt = tempfile.mktemp()\nopen(t, 'w').write('x')\nos.replace(t, 'docs/index.md')",
    "rmdir": "import os\nos.rmdir('docs/empty')",
    "rmdir_dir_fd": AWAY.format(folder='docs') + "os.rmdir('empty', dir_fd=d)",
    "chmod": "import os\nos.chmod('docs/index.md', 0o777)",
    "utime_dir_fd": AWAY.format(folder='docs') + "os.utime('index.md', (0, 0), dir_fd=d)",
    "link_out_of_project": "import os, tempfile\nos.link('docs/index.md', os.path.join(tempfile.mkdtemp(), 'x'))",
    "mkdir": "import os\nos.mkdir('docs/new')",
    "mkdir_dir_fd": AWAY.format(folder='docs') + "os.mkdir('new', dir_fd=d)",
    "makedirs": "import os\nos.makedirs('docs/a/b')",
    "rmtree": "import shutil\nshutil.rmtree('data')",
    "truncate": "import os\nos.truncate('docs/index.md', 0)",
    "copyfile_over": "import shutil, tempfile\nt = tempfile.mktemp()\nopen(t, 'w').write('x')\nshutil.copyfile(t, 'docs/index.md')",
    "chdir_open": "import os\nos.chdir('docs')\nopen('index.md', 'w')",
    "chdir_remove": "import os\nos.chdir('docs')\nos.remove('index.md')",
    "chdir_os_open": "import os\nos.chdir('fakecore')\nos.open('b.py', os.O_RDONLY | os.O_TRUNC)",
    "own_source": "open(__file__, 'w')",
    "symlink_into_project": "import os, tempfile\nt = tempfile.mktemp()\nos.symlink(os.path.abspath('docs/index.md'), t)\nopen(t, 'w')",
}


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".cache" not in p.parts and "__pycache__" not in p.parts}


def test_every_write_variant_is_refused_at_its_line(tmp_path: Path) -> None:
    snippets = {f"{n}.py": f"# %% ok\nprint('fine')\n\n# %% write\n{body}\nprint('not reached')\n"
                for n, body in VARIANTS.items()}
    snippets["reader.py"] = "# %% read\nprint(open('docs/index.md').read()[:3])\nimport os\nprint(len(os.listdir('docs')))\n"
    root = make_project(tmp_path / "p", snippets)
    (root / "docs/empty").mkdir()
    before = snapshot(root)
    dirs_before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir() and ".cache" not in p.parts
                         and "__pycache__" not in p.parts)
    out = engine(root, preload=(), jobs=2).execute()
    for name in VARIANTS:
        o = out[f"{name}.py"]
        text = (root / "snippets" / f"{name}.py").read_text().splitlines()
        line = text.index("print('not reached')")  # 1-based line of the call just above it
        assert o.status == "failed", (name, o.status)
        first = o.message.splitlines()[0]
        assert first.startswith(f"snippets/{name}.py:{line}: PermissionError: kbgen: a snippet may not change"), (name, first)
        assert str(root) not in o.message
    assert out["reader.py"].status == "executed"  # reading is fine
    assert snapshot(root) == before  # notes, library, data, snippets: byte-identical
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir() and ".cache" not in p.parts
                  and "__pycache__" not in p.parts) == dirs_before


def test_temp_dir_writes_are_allowed(tmp_path: Path) -> None:
    body = ("# %% tmp\nimport os, tempfile\nd = tempfile.mkdtemp()\nopen(os.path.join(d, 'x'), 'w').write('x')\n"
            "fd = os.open(d, os.O_RDONLY)\nos.rename('x', 'y', src_dir_fd=fd, dst_dir_fd=fd)\nos.unlink('y', dir_fd=fd)\n"
            "os.mkdir('sub', dir_fd=fd)\nos.rmdir('sub', dir_fd=fd)\nprint('ok')\n")
    root = make_project(tmp_path / "p", {"tmp.py": body})
    o = engine(root, preload=()).execute()["tmp.py"]
    assert o.status == "executed", o.message
