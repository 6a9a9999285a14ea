"""CJK font lookup for figures: per-platform candidate files, then matplotlib's font manager."""

from __future__ import annotations

import ntpath

import pytest

from transformer_core.fonts import (
    CJK_FAMILIES, LINUX_FONT_FILES, MACOS_FONT_FILES, WINDOWS_FONT_NAMES, CJKFont, candidate_paths,
    find_cjk_font, platform_family, use_cjk_font,
)

NO_FONTS: list[tuple[str, str]] = [("DejaVu Sans", "/x/DejaVuSans.ttf")]


def lookup(platform: str, existing: set[str], env: dict[str, str] | None = None,
           installed: list[tuple[str, str]] | None = None) -> CJKFont | None:
    return find_cjk_font(platform=platform, env=env or {}, is_file=existing.__contains__,
                         installed=NO_FONTS if installed is None else installed, family_of=lambda p: f"family of {p}")


@pytest.mark.parametrize("platform, kind", [("linux", "linux"), ("freebsd13", "linux"), ("darwin", "darwin"),
                                            ("win32", "win32"), ("cygwin", "win32")])
def test_platform_family(platform: str, kind: str) -> None:
    assert platform_family(platform) == kind


@pytest.mark.parametrize("platform, files", [("linux", LINUX_FONT_FILES), ("darwin", MACOS_FONT_FILES)])
def test_every_candidate_is_found_alone_and_the_first_existing_wins(platform: str, files: tuple[str, ...]) -> None:
    for path in files:
        font = lookup(platform, {path})
        assert font == CJKFont(path=path, family=f"family of {path}", source="candidate")
    assert lookup(platform, {files[-1], files[1]}) == CJKFont(files[1], f"family of {files[1]}", "candidate")


def test_windows_uses_windir_and_the_users_font_folder() -> None:
    env = {"WINDIR": r"D:\Win", "LOCALAPPDATA": r"C:\Users\pm\AppData\Local"}
    paths = candidate_paths("win32", env)
    assert paths[0] == r"D:\Win\Fonts\msyh.ttc"
    assert ntpath.join(r"C:\Users\pm\AppData\Local\Microsoft\Windows\Fonts", "simhei.ttf") in paths
    assert len(paths) == 2 * len(WINDOWS_FONT_NAMES)
    user_simhei = r"C:\Users\pm\AppData\Local\Microsoft\Windows\Fonts\simhei.ttf"
    assert lookup("win32", {user_simhei}, env).path == user_simhei  # type: ignore[union-attr]
    assert candidate_paths("win32", {})[0] == r"C:\Windows\Fonts\msyh.ttc"  # default WINDIR


def test_platform_lists_do_not_leak_into_each_other() -> None:
    mac_font = MACOS_FONT_FILES[0]
    assert lookup("linux", {mac_font}) is None
    assert lookup("win32", {LINUX_FONT_FILES[0]}) is None


def test_user_font_folders_are_searched() -> None:
    linux_user = "/home/pm/.local/share/fonts/wqy-microhei.ttc"
    assert lookup("linux", {linux_user}, {"HOME": "/home/pm"}).path == linux_user  # type: ignore[union-attr]
    mac_user = "/Users/pm/Library/Fonts/PingFang.ttc"
    assert lookup("darwin", {mac_user}, {"HOME": "/Users/pm"}).path == mac_user  # type: ignore[union-attr]


def test_falls_back_to_the_font_manager_by_family_preference() -> None:
    installed = [("DejaVu Sans", "/a.ttf"), ("SimHei", "/fonts/simhei.ttf"), ("Noto Sans CJK SC", "/fonts/noto.otf")]
    assert CJK_FAMILIES.index("Noto Sans CJK SC") < CJK_FAMILIES.index("SimHei")
    assert lookup("linux", set(), installed=installed) == CJKFont("/fonts/noto.otf", "Noto Sans CJK SC", "font-manager")


def test_none_when_the_machine_has_no_cjk_font() -> None:
    assert lookup("darwin", set()) is None


def test_use_cjk_font_configures_matplotlib() -> None:
    from matplotlib import font_manager, rc_context, rcParams

    dejavu = font_manager.findfont("DejaVu Sans")  # stands in for a CJK file: what matters is the wiring
    with rc_context():
        font = use_cjk_font(CJKFont(path=dejavu, family="DejaVu Sans", source="candidate"))
        assert font is not None and rcParams["font.sans-serif"][0] == "DejaVu Sans"
        assert rcParams["font.family"] == ["sans-serif"] and rcParams["axes.unicode_minus"] is False
