"""Find a font with Chinese glyphs on Linux, macOS or Windows and make matplotlib use it.

Figures in the notes carry Chinese titles and tick labels. Matplotlib's default font
(DejaVu Sans) has no CJK glyphs, so without this the labels turn into empty boxes. The
lookup tries each platform's usual font files first (first one that exists wins), then asks
matplotlib's font manager for any installed font whose family name is a known CJK family.

Usage in a snippet::

    from transformer_core.fonts import use_cjk_font
    font = use_cjk_font()   # CJKFont, or None when the machine has no CJK font at all
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Font files per platform, most preferred first (Simplified Chinese faces before others).
LINUX_FONT_FILES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch noto-fonts-cjk
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
MACOS_FONT_FILES: tuple[str, ...] = (
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "/System/Library/Fonts/Supplemental/Songti.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
)
# File names looked up in the Windows font folders (system, then the user's own installs).
WINDOWS_FONT_NAMES: tuple[str, ...] = ("msyh.ttc", "msyh.ttf", "simhei.ttf", "Deng.ttf", "simsun.ttc", "simkai.ttf")

# Family names accepted from matplotlib's font manager when no listed file exists.
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Noto Serif CJK SC", "Source Han Sans SC",
    "Source Han Sans CN", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "PingFang SC", "Hiragino Sans GB",
    "Heiti SC", "STHeiti", "Microsoft YaHei", "SimHei", "DengXian", "SimSun", "Arial Unicode MS",
    "Droid Sans Fallback", "AR PL UMing CN",
)


@dataclass(frozen=True)
class CJKFont:
    """A font file with Chinese glyphs: where it is, its family name, and how it was found.

    ``source`` is ``"candidate"`` (a platform's listed file) or ``"font-manager"``.
    """

    path: str
    family: str
    source: str


def platform_family(platform: str) -> str:
    """``"linux"``, ``"darwin"`` or ``"win32"`` for a ``sys.platform`` value (BSDs count as linux)."""
    if platform.startswith("win") or platform == "cygwin":
        return "win32"
    if platform == "darwin":
        return "darwin"
    return "linux"


def candidate_paths(platform: str, env: Mapping[str, str]) -> list[str]:
    """The font files to try on ``platform``, in order; ``env`` supplies HOME / WINDIR / LOCALAPPDATA."""
    kind = platform_family(platform)
    if kind == "win32":
        folders = [ntpath.join(env.get("WINDIR", r"C:\Windows"), "Fonts")]
        if env.get("LOCALAPPDATA"):
            folders.append(ntpath.join(env["LOCALAPPDATA"], "Microsoft", "Windows", "Fonts"))
        return [ntpath.join(folder, name) for folder in folders for name in WINDOWS_FONT_NAMES]
    files = list(MACOS_FONT_FILES if kind == "darwin" else LINUX_FONT_FILES)
    home = env.get("HOME")
    if home:  # fonts a user installed without root
        user_dir = posixpath.join(home, "Library", "Fonts") if kind == "darwin" else posixpath.join(home, ".local", "share", "fonts")
        files += [posixpath.join(user_dir, posixpath.basename(f)) for f in files]
    return files


def _installed_fonts() -> list[tuple[str, str]]:
    """(family, file) of every font matplotlib's font manager knows."""
    from matplotlib import font_manager

    return [(f.name, f.fname) for f in font_manager.fontManager.ttflist]


def find_cjk_font(
    platform: str | None = None,
    env: Mapping[str, str] | None = None,
    is_file: Callable[[str], bool] = os.path.isfile,
    installed: Iterable[tuple[str, str]] | None = None,
    family_of: Callable[[str], str] | None = None,
) -> CJKFont | None:
    """The first CJK font on this machine, or None.

    Tries :func:`candidate_paths` for ``platform`` (default ``sys.platform``) in order, then the
    fonts matplotlib found (``installed``, pairs of family and file; default: its font manager)
    in the order of :data:`CJK_FAMILIES`. ``family_of`` names a font file (default: matplotlib).
    The parameters exist so the lookup can be tested for every platform on any machine.
    """
    platform = sys.platform if platform is None else platform
    env = os.environ if env is None else env
    for path in candidate_paths(platform, env):
        if is_file(path):
            return CJKFont(path=path, family=(family_of or _family_of)(path), source="candidate")
    by_family = {family: path for family, path in (_installed_fonts() if installed is None else installed)}
    for family in CJK_FAMILIES:
        if family in by_family:
            return CJKFont(path=by_family[family], family=family, source="font-manager")
    return None


def _family_of(path: str) -> str:
    from matplotlib import font_manager

    return font_manager.FontProperties(fname=path).get_name()


def use_cjk_font(font: CJKFont | None = None) -> CJKFont | None:
    """Register ``font`` (default: :func:`find_cjk_font`) with matplotlib and put it first.

    Sets ``font.sans-serif`` to the CJK family followed by matplotlib's defaults (Latin text
    keeps its usual look where the CJK font lacks a glyph) and turns off the Unicode minus sign,
    which many CJK fonts lack. Returns the font, or None (nothing changed) when none exists.
    """
    from matplotlib import font_manager, rcParams

    font = find_cjk_font() if font is None else font
    if font is None:
        return None
    font_manager.fontManager.addfont(font.path)
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [font.family] + [f for f in rcParams["font.sans-serif"] if f != font.family]
    rcParams["axes.unicode_minus"] = False
    return font
