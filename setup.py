"""The one compiled part of Keel: the roll-up's byte scans (`keel.log._scan`, optional).

Everything else is in pyproject.toml. Without a C compiler the build skips it and Keel reads
the log with NumPy and Arrow instead (the same answers, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "keel.log._scan",
            ["src/keel/log/_scan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
