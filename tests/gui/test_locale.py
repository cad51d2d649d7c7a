"""A C locale (LANG unset, as under `env -i` or a bare service) must not make Qt complain.

Python coerces such a locale to C.UTF-8 by itself (PEP 538), but the frozen app's embedded
interpreter does not; ``PYTHONCOERCECLOCALE=0`` reproduces that here.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import locale, os
from latentlab.gui.app import create_app
app = create_app([])
print(os.environ.get("LC_CTYPE"), locale.nl_langinfo(locale.CODESET))
"""


def _run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", **env})


def test_an_unset_locale_becomes_utf8_before_qt_starts_and_qt_stays_quiet():
    result = _run(PYTHONCOERCECLOCALE="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["C.UTF-8", "UTF-8"]
    assert "locale" not in result.stderr.lower(), result.stderr


def test_a_locale_chosen_with_lc_all_is_left_alone():
    result = _run(PYTHONCOERCECLOCALE="0", LC_ALL="C.UTF-8", LC_CTYPE="POSIX")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "POSIX"  # not rewritten
